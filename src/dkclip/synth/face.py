"""Procedural 2D face drawing driven by action-unit intensities.

Every AU moves or adds geometry (brow ends, lid heights, lip corners, mouth opening, jaw line, wrinkles),
scaled by its intensity, and the displacements are large on purpose: after a 2× box-filtered downsample to
96–112 px a change of one or two pixels would be lost, so the defining AUs of each class move features by
3–10 % of the face. Everything is drawn as polygons in face units and mapped through one affine transform
(the head pose), so rotation, scale and translation cost nothing extra and the background stays put.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import ImageDraw

from .aus import AU_INDEX
from .identity import Appearance

RGB = tuple[int, int, int]

_T13 = np.linspace(-1.0, 1.0, 13)
_T17 = np.linspace(-1.0, 1.0, 17)
_CIRCLE = np.linspace(0.0, 2.0 * np.pi, 25)[:-1]
_TEETH = (236, 232, 218)
_MOUTH = (74, 22, 28)
_SCLERA = (242, 240, 234)
_LASH = (34, 24, 24)


def shade(rgb: Sequence[int], k: float) -> RGB:
    """Scale a colour (k < 1 darker)."""
    return tuple(int(min(255, max(0, round(c * k)))) for c in rgb)  # type: ignore[return-value]


def mix(a: Sequence[int], b: Sequence[int], t: float) -> RGB:
    """Blend colour a towards b by t ∈ [0, 1]; used to fade wrinkles in with AU intensity."""
    t = float(min(1.0, max(0.0, t)))
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b, strict=True))  # type: ignore[return-value]


class Pen:
    """Draws shapes given in face units through the head-pose affine transform ``m`` (2×3, face → pixels)."""

    def __init__(self, draw: ImageDraw.ImageDraw, m: np.ndarray):
        self.draw = draw
        self.m = m
        self.unit = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # pixels per face unit

    def _px(self, xy: np.ndarray) -> list[float]:
        return (np.asarray(xy) @ self.m[:, :2].T + self.m[:, 2]).ravel().tolist()

    def poly(self, xy: np.ndarray, fill: RGB) -> None:
        self.draw.polygon(self._px(xy), fill=fill)

    def line(self, xy: np.ndarray, fill: RGB, width: float) -> None:
        w = max(1, round(width * self.unit))
        self.draw.line(self._px(xy), fill=fill, width=w, joint="curve" if w > 2 else None)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float, fill: RGB) -> None:
        self.poly(ellipse_pts(cx, cy, rx, ry), fill)


def ellipse_pts(cx: float, cy: float, rx: float, ry: float, n: int = 24) -> np.ndarray:
    ang = _CIRCLE if n == 24 else np.linspace(0.0, 2.0 * np.pi, n + 1)[:-1]
    return np.stack([cx + rx * np.cos(ang), cy + ry * np.sin(ang)], axis=1)


def _band(curve: np.ndarray, thick: np.ndarray) -> np.ndarray:
    """A filled stroke of varying thickness around a polyline (for brows and moustaches)."""
    d = np.gradient(curve, axis=0)
    n = np.stack([-d[:, 1], d[:, 0]], axis=1)
    n /= np.linalg.norm(n, axis=1, keepdims=True) + 1e-9
    half = (thick / 2.0)[:, None]
    return np.concatenate([curve + n * half, (curve - n * half)[::-1]], axis=0)


def _bezier(p0: np.ndarray, p1: np.ndarray, p2: np.ndarray, n: int = 10) -> np.ndarray:
    t = np.linspace(0.0, 1.0, n)[:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2


class FaceState:
    """AU intensities of one frame, per side: index 0 = R (subject's right, image left), 1 = L."""

    def __init__(self, aus: np.ndarray):
        self.aus = np.asarray(aus, dtype=np.float64)

    def side(self, au: int, side: int) -> float:
        return float(self.aus[side, AU_INDEX[au]])

    def both(self, au: int) -> float:
        return float(self.aus[:, AU_INDEX[au]].mean())


def face_outline(app: Appearance, st: FaceState, n: int = 40) -> np.ndarray:
    """Head outline: an egg shape narrowing to the chin; the jaw drops with AU26 (and a little with AU25)."""
    ang = np.linspace(0.0, 2.0 * np.pi, n + 1)[:-1]
    sin, cos = np.sin(ang), np.cos(ang)
    lower = np.clip(sin, 0.0, None)
    width = app.face_w * (1.0 - (1.0 - app.jaw) * lower**3.0)
    y = np.where(sin < 0, app.face_top * sin, app.face_bot * sin)
    drop = 0.2 * st.both(26) + 0.04 * st.both(25)
    y = y + drop * np.clip((y - (app.mouth_y - 0.25)) / (app.face_bot - app.mouth_y + 0.25), 0.0, 1.0)
    return np.stack([width * cos, y], axis=1)


def draw_back(pen: Pen, app: Appearance) -> None:
    """Shoulders, neck, long hair and ears: everything behind the face disc."""
    skin = app.skin
    pen.poly(np.array([[-2.2, 3.0], [-1.9, 1.75], [-0.6, 1.5], [0.0, 1.62], [0.6, 1.5], [1.9, 1.75],
                       [2.2, 3.0]]), app.shirt)
    pen.poly(np.array([[-0.42, 0.6], [0.42, 0.6], [0.5, 1.7], [-0.5, 1.7]]), shade(skin, 0.82))
    if app.hair_style == "long":
        w, t = app.face_w + 0.24, app.face_top + 0.14
        ang = np.linspace(np.pi, 2.0 * np.pi, 16)
        top = np.stack([w * np.cos(ang), t * np.sin(ang)], axis=1)
        pen.poly(np.concatenate([[[-w - 0.05, 1.65]], top, [[w + 0.05, 1.65]]]), app.hair)
    for sgn in (-1.0, 1.0):
        ex, ey = sgn * app.face_w * 0.97, app.eye_y + 0.14
        pen.ellipse(ex, ey, 0.11, 0.19, shade(skin, 0.93))
        pen.line(np.array([[ex + sgn * 0.03, ey - 0.1], [ex + sgn * 0.06, ey], [ex + sgn * 0.03, ey + 0.1]]),
                 shade(skin, 0.72), 0.02)
        if app.earrings:
            pen.ellipse(ex + sgn * 0.02, ey + 0.22, 0.04, 0.04, (222, 184, 70))


def _hair_cap(app: Appearance) -> np.ndarray:
    """Polygon of the hair covering the skull down to the hairline and the temples."""
    w, t = app.face_w + 0.05, app.face_top + 0.1
    ang = np.linspace(np.pi * 0.96, np.pi * 2.04, 27)
    r = 1.0 + (0.05 * np.sin(ang * 14.0) if app.hair_style == "curly" else 0.0)
    outer = np.stack([w * r * np.cos(ang), np.minimum(t * r * np.sin(ang), app.eye_y - 0.02)], axis=1)
    temple_y = app.eye_y - 0.12
    xs = np.linspace(app.face_w * 0.98, -app.face_w * 0.98, 21)
    u = xs / (app.face_w * 0.98)
    centre = app.hairline + (0.1 if app.hair_style == "fringe" else 0.0)
    inner_y = centre + (temple_y - centre) * np.abs(u) ** 2.5
    if app.hair_style == "fringe":
        inner_y = inner_y + 0.04 * np.abs(np.sin(u * 9.0)) * (1 - np.abs(u))
    inner = np.stack([xs, inner_y], axis=1)
    return np.concatenate([outer, inner], axis=0)


def draw_face(pen: Pen, app: Appearance, st: FaceState, blink: float = 0.0,
              gaze: tuple[float, float] = (0.0, 0.0), hat: RGB | None = None) -> None:
    """Draw the head (skin, hair, features, accessories) for one frame's AU state."""
    skin = app.skin
    dark = shade(skin, 0.42)
    line_col = shade(skin, 0.62)
    outline = face_outline(app, st)
    draw_back(pen, app)
    pen.poly(outline, skin)
    pen.line(np.concatenate([outline, outline[:1]]), shade(skin, 0.8), 0.018)

    mouth = _mouth_geometry(app, st)
    _draw_beard(pen, app, outline, mouth)
    if app.hair_style != "bald":
        pen.poly(_hair_cap(app), app.hair)
        if app.hair_style == "bun":
            pen.ellipse(0.0, -app.face_top - 0.18, 0.3, 0.24, app.hair)
    if hat is not None:  # a beanie down to the hairline
        w = app.face_w + 0.1
        ang = np.linspace(np.pi, 2.0 * np.pi, 17)
        brim = app.hairline + 0.04
        dome = np.stack([w * np.cos(ang), brim + (brim + app.face_top + 0.3) * np.sin(ang)], axis=1)
        pen.poly(dome, hat)
        pen.line(np.array([[-w, brim - 0.05], [w, brim - 0.05]]), shade(hat, 0.6), 0.1)

    _draw_wrinkles(pen, app, st, line_col, dark)
    _draw_nose(pen, app, st, mouth, dark, line_col)
    for side in (0, 1):
        _draw_eye(pen, app, st, side, blink, gaze)
        _draw_brow(pen, app, st, side)
    _draw_mouth(pen, app, st, mouth, line_col)
    if app.glasses != "none":
        _draw_glasses(pen, app)


# ---------------------------------------------------------------------------------------------- features


def _draw_wrinkles(pen: Pen, app: Appearance, st: FaceState, line_col: RGB, dark: RGB) -> None:
    """Forehead lines (AU1/AU2), glabella furrows (AU4) and cheek/eye-corner lines (AU6)."""
    skin = app.skin
    i1, i2, i4 = st.both(1), max(st.side(2, 0), st.side(2, 1)), st.both(4)
    strength = max(i1, i2)
    if strength > 0.1:
        col = mix(skin, dark, 0.25 + 0.6 * strength)
        half = 0.12 + 0.28 * i2 + 0.12 * i1
        base = app.eye_y - app.brow_gap - 0.2
        for k in range(3):
            y = base - 0.09 * k
            if y < app.hairline + 0.06:
                break
            xs = np.linspace(-half, half, 9)
            ys = y - 0.03 * i1 * (1 - (xs / half) ** 2) + 0.02 * (xs / half) ** 2
            pen.line(np.stack([xs, ys], axis=1), col, 0.02)
    if i4 > 0.1:
        col = mix(skin, dark, 0.3 + 0.6 * i4)
        y0 = app.eye_y - app.brow_gap + 0.06
        for sgn in (-1.0, 1.0):
            pen.line(np.array([[sgn * 0.05, y0], [sgn * 0.065, y0 - 0.16 * (0.5 + i4)]]), col, 0.024)
    for side in (0, 1):
        sgn = -1.0 if side == 0 else 1.0
        i6 = st.side(6, side)
        cx = sgn * app.eye_dx
        if i6 > 0.1:
            col = mix(skin, dark, 0.3 + 0.55 * i6)
            # raised cheek: the infraorbital furrow below the lower lid, and the cheek bulge edge
            y = app.eye_y + app.eye_h * 0.75 + 0.07 - 0.03 * i6
            xs = cx + sgn * app.eye_w * np.linspace(-0.9, 1.0, 9)
            ys = y + 0.025 * np.linspace(-1, 1, 9) ** 2
            pen.line(np.stack([xs, ys], axis=1), col, 0.02)
            cy = app.nose_y - 0.02 - 0.09 * i6
            xs = cx + sgn * np.linspace(-0.18, 0.22, 9)
            pen.line(np.stack([xs, cy + 0.06 * np.linspace(-1, 1, 9) ** 2], axis=1), col, 0.018)
            ox = cx + sgn * (app.eye_w + 0.04)
            for k in (-1, 0, 1):
                pen.line(np.array([[ox, app.eye_y + 0.03 * k], [ox + sgn * 0.09, app.eye_y + 0.06 * k]]), col,
                         0.016)


def _draw_nose(pen: Pen, app: Appearance, st: FaceState, mouth: dict[str, np.ndarray], dark: RGB,
               line_col: RGB) -> None:
    """Nose wings and nostrils (raised and flared by AU9/AU10) and the bridge wrinkles of AU9."""
    skin = app.skin
    i9, i10 = st.both(9), st.both(10)
    ny = app.nose_y - 0.04 * i9 - 0.02 * i10
    nw = app.nose_w * (1.0 + 0.2 * i9)
    pen.line(np.array([[-0.07, app.eye_y + 0.06], [-0.09, ny - 0.1]]), shade(skin, 0.86), 0.02)
    for sgn in (-1.0, 1.0):
        pen.ellipse(sgn * nw * 0.42, ny + 0.02, 0.045 * (1 + 0.3 * i9), 0.022, shade(skin, 0.35))
        wing = np.array([[sgn * nw * 0.35, ny - 0.09], [sgn * nw * 0.95, ny - 0.03], [sgn * nw * 0.98, ny + 0.02],
                         [sgn * nw * 0.7, ny + 0.05]])
        pen.line(wing, line_col, 0.022)
    pen.line(np.array([[-nw * 0.25, ny + 0.055], [0.0, ny + 0.065], [nw * 0.25, ny + 0.055]]), shade(skin, 0.75),
             0.018)
    if i9 > 0.1:
        col = mix(skin, dark, 0.35 + 0.6 * i9)
        for k in range(3):
            y = app.eye_y + 0.07 + 0.055 * k
            pen.line(np.array([[-0.075, y + 0.012], [0.0, y - 0.01], [0.075, y + 0.012]]), col, 0.02)
    # nasolabial folds: deepened by the smile, upper-lip raiser, nose wrinkler and cheek raiser
    for side in (0, 1):
        sgn = -1.0 if side == 0 else 1.0
        depth = max(st.side(12, side), 0.9 * i10, 0.8 * i9, 0.5 * st.side(6, side), 0.4 * st.side(20, side))
        col = mix(skin, dark, 0.12 + 0.2 * app.age + 0.6 * depth)
        cx, cy = mouth["corner"][side]
        p0 = np.array([sgn * nw * 1.05, ny - 0.05])
        p2 = np.array([cx + sgn * 0.06, cy + 0.03])
        p1 = np.array([sgn * (nw * 1.05 + 0.16 + 0.08 * depth), (p0[1] + p2[1]) / 2])
        pen.line(_bezier(p0, p1, p2, 9), col, 0.02 + 0.01 * depth)


def _eye_curves(app: Appearance, st: FaceState, side: int, blink: float) -> tuple[np.ndarray, ...]:
    sgn = -1.0 if side == 0 else 1.0
    i5, i6, i7, i4 = st.side(5, side), st.side(6, side), st.side(7, side), st.side(4, side)
    cx, cy = sgn * app.eye_dx, app.eye_y
    h_up = app.eye_h * (1.0 + 1.0 * i5) * (1.0 - 0.35 * i7) * (1.0 - 0.2 * i6) * (1.0 - 0.15 * i4)
    h_lo = app.eye_h * 0.75 * (1.0 - 0.7 * i7) * (1.0 - 0.6 * i6)
    h_up = h_up * (1.0 - blink) - 0.9 * h_lo * blink
    xs = cx + sgn * app.eye_w * _T13
    base = cy - app.eye_tilt * (_T13 + 1.0) / 2.0
    bump = 1.0 - _T13**2
    upper = base - h_up * bump**0.7
    lower = base + h_lo * bump**0.9
    return xs, upper, lower


def _clamp_to_lids(pts: np.ndarray, xs: np.ndarray, upper: np.ndarray, lower: np.ndarray) -> np.ndarray:
    order = np.argsort(xs)
    x, up, lo = xs[order], upper[order], lower[order]
    px = np.clip(pts[:, 0], x[0], x[-1])
    top = np.interp(px, x, up)
    bot = np.maximum(np.interp(px, x, lo), top)
    return np.stack([px, np.clip(pts[:, 1], top, bot)], axis=1)


def _draw_eye(pen: Pen, app: Appearance, st: FaceState, side: int, blink: float,
              gaze: tuple[float, float]) -> None:
    """Eye opening between two lid curves: AU5 lifts the upper lid (white above the iris), AU6/AU7 lift and
    straighten the lower lid; the iris is clipped to the opening so narrowing hides it."""
    sgn = -1.0 if side == 0 else 1.0
    skin = app.skin
    xs, upper, lower = _eye_curves(app, st, side, blink)
    crease = upper - 0.055 - 0.02 * (1.0 - st.side(5, side))
    pen.line(np.stack([xs[1:-1], crease[1:-1]], axis=1), shade(skin, 0.78), 0.015)
    opening = np.concatenate([np.stack([xs, upper], axis=1), np.stack([xs, lower], axis=1)[::-1]])
    pen.poly(opening, _SCLERA)
    r = app.eye_h * 1.3
    icx = sgn * app.eye_dx + gaze[0] * app.eye_w * 0.35
    icy = app.eye_y + 0.008 + gaze[1] * 0.02
    iris = _clamp_to_lids(ellipse_pts(icx, icy, r, r), xs, upper, lower)
    pen.poly(iris, app.iris)
    pupil = _clamp_to_lids(ellipse_pts(icx, icy, r * 0.45, r * 0.45), xs, upper, lower)
    pen.poly(pupil, (14, 12, 12))
    hl = _clamp_to_lids(ellipse_pts(icx - 0.3 * r, icy - 0.35 * r, r * 0.18, r * 0.18), xs, upper, lower)
    pen.poly(hl, (250, 250, 250))
    pen.line(np.stack([xs, upper], axis=1), _LASH, 0.036)
    pen.line(np.stack([xs, lower], axis=1), shade(skin, 0.55), 0.016 + 0.012 * st.side(7, side))


def _draw_brow(pen: Pen, app: Appearance, st: FaceState, side: int) -> None:
    """Brow as a tapered band: AU1 lifts the inner end, AU2 the outer end, AU4 pulls it down and in."""
    sgn = -1.0 if side == 0 else 1.0
    i1, i2, i4, i9 = st.side(1, side), st.side(2, side), st.side(4, side), st.side(9, side)
    cx, cy = sgn * app.eye_dx, app.eye_y - app.brow_gap
    inner = np.array([cx - sgn * app.eye_w * (0.95 - 0.3 * i4), cy - 0.17 * i1 + 0.1 * i4 + 0.05 * i9])
    outer = np.array([cx + sgn * app.eye_w * 1.3, cy + 0.03 - app.eye_tilt - 0.15 * i2 + 0.025 * i4])
    mid = np.array([cx + sgn * app.eye_w * 0.3,
                    cy - app.brow_arch * 2.0 - 0.07 * i1 - 0.13 * i2 + 0.08 * i4 + 0.03 * i9])
    curve = _bezier(inner, mid, outer, 10)
    thick = app.brow_thick * np.linspace(1.15, 0.55, 10)
    # brows stay much darker than the skin whatever the hair colour, or AU1/2/4 vanish on dark skin
    hair, skin = shade(app.hair, 0.7), shade(app.skin, 0.4)
    brow_col = (min(hair[0], skin[0]), min(hair[1], skin[1]), min(hair[2], skin[2]))
    pen.poly(_band(curve, thick), brow_col)


def _mouth_geometry(app: Appearance, st: FaceState) -> dict[str, np.ndarray]:
    """Lip curves from the corner positions and the centre heights of the four lip edges."""
    corners = []
    for side in (0, 1):
        sgn = -1.0 if side == 0 else 1.0
        i12, i14, i15, i20 = (st.side(a, side) for a in (12, 14, 15, 20))
        i23, i24, i17 = st.side(23, side), st.side(24, side), st.side(17, side)
        x = sgn * (app.mouth_w + 0.08 * i12 + 0.11 * i20 - 0.06 * i14 - 0.07 * i23 - 0.03 * i24)
        y = app.mouth_y - 0.14 * i12 - 0.045 * i14 + 0.12 * i15 + 0.03 * i20 + 0.035 * i17
        corners.append((x, y))
    i10, i17, i23, i24 = st.both(10), st.both(17), st.both(23), st.both(24)
    i20, i12 = st.both(20), max(st.side(12, 0), st.side(12, 1))
    gap = 0.09 * st.both(25) + 0.27 * st.both(26)
    jaw = 0.2 * st.both(26) + 0.04 * st.both(25)
    thick = max(0.2, 1.0 - 0.5 * i23 - 0.7 * i24) * (1.0 - 0.3 * i20) * (1.0 - 0.25 * i12)
    ui = app.mouth_y - 0.25 * gap - 0.08 * i10
    li = max(ui, app.mouth_y + 0.75 * gap - 0.03 * i17 + 0.1 * jaw * (gap > 0.05))
    uo = ui - app.lip_th * thick - 0.01
    lo = li + 1.3 * app.lip_th * thick - 0.04 * i17
    (xr, yr), (xl, yl) = corners
    s = _T17
    xs = (xr * (1 - s) + xl * (1 + s)) / 2.0
    yc = (yr * (1 - s) + yl * (1 + s)) / 2.0
    yc0 = (yr + yl) / 2.0
    b6, b9 = (1 - s**2) ** 0.6, (1 - s**2) ** 0.9
    bow = 0.014 * thick * np.exp(-((s / 0.14) ** 2))
    return {
        "corner": np.array(corners),
        "xs": xs,
        "upper_outer": yc + (uo - yc0) * b6 + bow,
        "upper_inner": yc + (ui - yc0) * b9,
        "lower_inner": yc + (li - yc0) * b9,
        "lower_outer": yc + (lo - yc0) * b6,
        "gap": np.array(li - ui),
    }


def _draw_mouth(pen: Pen, app: Appearance, st: FaceState, m: dict[str, np.ndarray], line_col: RGB) -> None:
    """Lips, opening, teeth, and the corner/chin marks of AU14, AU15, AU17, AU20, AU24."""
    skin = app.skin
    dark = shade(skin, 0.42)
    xs = m["xs"]
    ui, li = m["upper_inner"], m["lower_inner"]
    s = _T17
    if float(m["gap"]) > 0.012:
        pen.poly(np.concatenate([np.stack([xs, ui], 1), np.stack([xs, li], 1)[::-1]]), _MOUTH)
        inner = np.abs(s) < 0.78
        tx = xs[inner]
        top = ui[inner]
        teeth_bot = np.minimum(top + 0.06, li[inner])
        pen.poly(np.concatenate([np.stack([tx, top], 1), np.stack([tx, teeth_bot], 1)[::-1]]), _TEETH)
        if float(m["gap"]) > 0.14:
            inner = np.abs(s) < 0.6
            bot = li[inner]
            lt = np.maximum(bot - 0.04, ui[inner] + 0.06)
            pen.poly(np.concatenate([np.stack([xs[inner], lt], 1), np.stack([xs[inner], bot], 1)[::-1]]),
                     shade(_TEETH, 0.9))
    pen.poly(np.concatenate([np.stack([xs, m["upper_outer"]], 1), np.stack([xs, ui], 1)[::-1]]), app.lips)
    pen.poly(np.concatenate([np.stack([xs, li], 1), np.stack([xs, m["lower_outer"]], 1)[::-1]]),
             shade(app.lips, 1.06))
    seam = shade(app.lips, 0.45)
    pen.line(np.stack([xs, ui], 1), seam, 0.024)
    if float(m["gap"]) > 0.012:
        pen.line(np.stack([xs, li], 1), seam, 0.016)
    if app.beard in ("moustache", "full"):
        uo = m["upper_outer"]
        band = np.stack([xs * 1.05, uo - 0.045], axis=1)
        pen.poly(_band(band, 0.075 * (1.0 - 0.6 * s**2)), app.hair)
    for side in (0, 1):
        sgn = -1.0 if side == 0 else 1.0
        cx, cy = m["corner"][side]
        i14, i15, i20 = st.side(14, side), st.side(15, side), st.side(20, side)
        if i14 > 0.1:  # dimple: a crescent beside the tightened corner
            col = mix(skin, dark, 0.4 + 0.6 * i14)
            dimple = np.array([[0.03, -0.08], [0.075, -0.01], [0.065, 0.05], [0.03, 0.08]]) * [sgn, 1.0] + [cx, cy]
            pen.line(dimple, col, 0.018 + 0.016 * i14)
        if i15 > 0.1:
            col = mix(skin, dark, 0.3 + 0.55 * i15)
            pen.line(np.array([[cx + sgn * 0.01, cy + 0.03], [cx + sgn * 0.03, cy + 0.14 * (0.4 + i15)]]), col, 0.02)
        if i20 > 0.1:
            col = mix(skin, dark, 0.3 + 0.5 * i20)
            pen.line(np.array([[cx + sgn * 0.03, cy], [cx + sgn * 0.12, cy + 0.01]]), col, 0.018)
    i17, i24 = st.both(17), st.both(24)
    lo_c = float(m["lower_outer"][8])
    if i17 > 0.1:
        col = mix(skin, dark, 0.3 + 0.6 * i17)
        xs2 = np.linspace(-0.16, 0.16, 9)
        pen.line(np.stack([xs2, lo_c + 0.06 - 0.04 * (xs2 / 0.16) ** 2], 1), col, 0.022 + 0.012 * i17)
        rng = [(-0.08, 0.16), (0.0, 0.19), (0.08, 0.16), (-0.04, 0.24), (0.05, 0.24)]
        for dx, dy in rng:
            pen.ellipse(dx, lo_c + dy * 0.85, 0.024 * i17, 0.018 * i17, col)
    if i24 > 0.1:
        col = mix(skin, dark, 0.25 + 0.5 * i24)
        uo_c = float(m["upper_outer"][8])
        xs2 = np.linspace(-0.12, 0.12, 7)
        pen.line(np.stack([xs2, uo_c - 0.035 + 0.015 * (xs2 / 0.12) ** 2], 1), col, 0.016)
        pen.line(np.stack([xs2, lo_c + 0.03 - 0.015 * (xs2 / 0.12) ** 2], 1), col, 0.016)


def _draw_beard(pen: Pen, app: Appearance, outline: np.ndarray, m: dict[str, np.ndarray]) -> None:
    if app.beard not in ("full", "stubble"):
        return
    start = app.eye_y + 0.35
    jaw = outline[outline[:, 1] > start]
    jaw = jaw[np.argsort(-jaw[:, 0])]  # right → left along the jaw (x descending)
    lo = float(m["lower_outer"][8])
    inner = np.array([[-app.face_w * 0.8, start], [-app.mouth_w - 0.12, app.mouth_y - 0.06],
                      [-0.15, lo + 0.06], [0.15, lo + 0.06], [app.mouth_w + 0.12, app.mouth_y - 0.06],
                      [app.face_w * 0.8, start]])
    col = app.hair if app.beard == "full" else mix(app.skin, app.hair, 0.4)
    pen.poly(np.concatenate([jaw, inner]), col)


def _draw_glasses(pen: Pen, app: Appearance) -> None:
    col = app.glasses_colour
    rx, ry = app.eye_w * 1.45, app.eye_h * 2.4
    for sgn in (-1.0, 1.0):
        cx, cy = sgn * app.eye_dx, app.eye_y + 0.01
        if app.glasses == "round":
            rim = ellipse_pts(cx, cy, rx, ry)
        else:
            rim = np.array([[cx - rx, cy - ry], [cx + rx, cy - ry], [cx + rx, cy + ry * 0.8], [cx, cy + ry],
                            [cx - rx, cy + ry * 0.8]])
        pen.line(np.concatenate([rim, rim[:1]]), col, 0.032)
        pen.line(np.array([[cx + sgn * rx, cy - ry * 0.4], [sgn * app.face_w * 0.98, cy - ry * 0.5]]), col, 0.03)
    pen.line(np.array([[-app.eye_dx + rx, app.eye_y - 0.02], [0.0, app.eye_y - 0.05],
                       [app.eye_dx - rx, app.eye_y - 0.02]]), col, 0.03)
