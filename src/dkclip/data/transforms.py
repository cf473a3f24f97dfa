"""Clip-level spatial transforms (docs/method.md §3.5): one set of spatial parameters for every frame of a clip.

Input: a ``uint8`` tensor ``(T, 3, H, W)``. Output: ``float32`` ``(T, 3, S, S)`` normalised, or
``(num_crops, T, 3, S, S)`` for multi-crop testing.

**Train** (:class:`TrainTransform`), in the authors' order:

1. resize the short side to ``R = round(S * 256 / 224)`` (256 for S=224, 128 for S=112);
2. multi-scale crop: crop sizes ``int(R * s)`` for scales (1, .875, .75, .66) (256/224/192/168 at R=256),
   width and height chosen independently with levels at most ``max_distort`` = 1 apart, placed at one of 5
   fixed positions (4 corners and the centre, on a grid of quarter steps);
3. resize the crop to S×S (the aspect ratio is not kept);
4. horizontal flip with p=0.5, one decision per clip;
5. colour jitter (brightness .4, contrast .4, saturation .2, hue .1) with p=0.8 per clip, its factors and
   their order drawn *again for every frame* as the authors' per-frame ``ColorJitter`` does
   (``jitter_per_frame=False`` draws them once per clip). The four adjustments are torchvision's (blend with
   black / the mean grey / the grey image, HSV hue rotation), re-written batched over frames with per-frame
   factors; results match ``torchvision.transforms.v2.functional.adjust_*`` within rounding;
6. grayscale (3 channels) with p=0.2 per clip;
7. normalise with ImageNet statistics (the authors') or CLIP's (``normalize="clip"``).

Steps 1–3 are done as **one** ``resized_crop`` on the source frames: the crop box is chosen in the coordinates
of the short-side-R image and mapped back to the source. The geometry is identical, it saves a full-frame
resize per frame, and it interpolates once instead of twice (so pixel values differ from the two-step version
by interpolation noise only).

**Test** (:class:`EvalTransform`): resize the short side to R and take the centre S×S crop (again as one
``resized_crop``), normalise. ``num_crops=3`` is the authors' final-pass variant: resize the short side to S and
take three S×S crops at the start, centre and end of the long side.

All randomness is drawn from the ``torch.Generator`` passed in. torchvision.transforms.v2's functional ops do
the pixel work (batched over the T frames); only the random parameters are drawn here, because v2's own random
transforms read the global RNG and share one draw across a batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
from torchvision.transforms.v2 import functional as F

from ..constants import IMAGENET_MEAN, IMAGENET_STD, NORMALIZATIONS

Box = tuple[int, int, int, int]  # top, left, height, width (source pixels)
MULTISCALE_SCALES: tuple[float, ...] = (1.0, 0.875, 0.75, 0.66)


def resize_short_side_for(size: int) -> int:
    """The short side the pipeline resizes to before cropping: 256 for 224, scaled with the target size."""
    return round(size * 256 / 224)


def _uniform(generator: torch.Generator | None, low: float, high: float) -> float:
    return float(torch.empty(()).uniform_(low, high, generator=generator))


def _chance(generator: torch.Generator | None, p: float) -> bool:
    return p > 0 and float(torch.rand((), generator=generator)) < p


def _choice(generator: torch.Generator | None, n: int) -> int:
    return int(torch.randint(n, (), generator=generator))


def _resized_dims(h: int, w: int, short: int) -> tuple[int, int]:
    """(height, width) after resizing the short side to ``short``, keeping the aspect ratio."""
    if h <= w:
        return short, max(1, round(w * short / h))
    return max(1, round(h * short / w)), short


def _to_source(box: Box, h: int, w: int, rh: int, rw: int) -> Box:
    """Map a box from resized (rh, rw) coordinates back to source (h, w) pixels."""
    sy, sx = h / rh, w / rw
    top, left, bh, bw = box
    t, lft = round(top * sy), round(left * sx)
    return t, lft, max(1, min(round(bh * sy), h - t)), max(1, min(round(bw * sx), w - lft))


def multiscale_crop_box(h: int, w: int, short: int, generator: torch.Generator | None = None,
                        scales: Sequence[float] = MULTISCALE_SCALES, max_distort: int = 1) -> Box:
    """The multi-scale crop of docs/method.md §3.5, as a box in *source* pixels of an (h, w) frame.

    The choice is made on the frame resized to short side ``short``: crop sizes ``int(short * s)``, a (width,
    height) pair of scale levels at most ``max_distort`` apart drawn uniformly, and one of 5 fixed offsets.
    """
    rh, rw = _resized_dims(h, w, short)
    sizes = [int(short * s) for s in scales]
    pairs = [(cw, ch) for i, cw in enumerate(sizes) for j, ch in enumerate(sizes) if abs(i - j) <= max_distort]
    cw, ch = pairs[_choice(generator, len(pairs))]
    ws, hs = (rw - cw) // 4, (rh - ch) // 4
    offsets = [(0, 0), (0, 4 * ws), (4 * hs, 0), (4 * hs, 4 * ws), (2 * hs, 2 * ws)]
    top, left = offsets[_choice(generator, len(offsets))]
    return _to_source((top, left, ch, cw), h, w, rh, rw)


def center_crop_box(h: int, w: int, short: int, size: int) -> Box:
    """Resize-short-side-then-centre-crop, as a box in source pixels."""
    rh, rw = _resized_dims(h, w, short)
    top, left = round((rh - size) / 2), round((rw - size) / 2)
    return _to_source((top, left, size, size), h, w, rh, rw)


def three_crop_boxes(h: int, w: int, size: int) -> list[Box]:
    """Resize the short side to ``size``, then three size×size crops at the start, centre and end of the long
    side (identical for square frames, as the spec notes)."""
    rh, rw = _resized_dims(h, w, size)
    if rh >= rw:
        tops = [0, (rh - size) // 2, rh - size]
        boxes = [(t, 0, size, size) for t in tops]
    else:
        lefts = [0, (rw - size) // 2, rw - size]
        boxes = [(0, lft, size, size) for lft in lefts]
    return [_to_source(b, h, w, rh, rw) for b in boxes]


def crop_resize(video: torch.Tensor, box: Box, size: int) -> torch.Tensor:
    """One antialiased bilinear ``resized_crop`` of every frame of a ``(T, 3, H, W)`` uint8 clip."""
    top, left, bh, bw = box
    return F.resized_crop(video, top, left, bh, bw, [size, size], antialias=True)


@dataclass
class Normalize:
    """uint8 (…, 3, H, W) → float32, ``(x/255 - mean) / std`` in one fused pass."""

    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD

    @classmethod
    def named(cls, name: str | tuple[Sequence[float], Sequence[float]]) -> Normalize:
        mean: Sequence[float]
        std: Sequence[float]
        if isinstance(name, str):
            if name not in NORMALIZATIONS:
                raise ValueError(f"normalize must be one of {sorted(NORMALIZATIONS)} or (mean, std)")
            mean, std = NORMALIZATIONS[name]
        else:
            mean, std = name
        return cls(tuple(mean), tuple(std))

    def __call__(self, video: torch.Tensor) -> torch.Tensor:
        mean = torch.tensor(self.mean, dtype=torch.float32).view(3, 1, 1) * 255
        inv_std = 1.0 / (torch.tensor(self.std, dtype=torch.float32).view(3, 1, 1) * 255)
        # One pass to a new contiguous float tensor (the uint8 work runs channels-last, torchvision's fast
        # path for antialiased resizing; the model wants the default layout), then in-place arithmetic.
        out = video.to(torch.float32, memory_format=torch.contiguous_format, copy=True)
        return out.sub_(mean).mul_(inv_std)


_GRAY = (0.2989, 0.587, 0.114)  # torchvision's rgb_to_grayscale weights


def _gray(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(-3)
    return (r * _GRAY[0] + g * _GRAY[1] + b * _GRAY[2]).unsqueeze(-3)


def adjust_hue_batched(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """HSV hue rotation of float ``(N, 3, H, W)`` frames in [0, 255] by a per-frame ``shift`` (N,) in turns.

    The same operation as torchvision's ``adjust_hue`` (within 1/255 after rounding; tested), written with
    closed-form HSV→RGB so that it is vectorised over frames with different shifts and skips the argmax and
    the full HSV round trip, which made the per-frame torchvision call the single largest cost of a training
    sample.
    """
    r, g, b = x.unbind(-3)
    maxc = x.amax(dim=-3)
    chroma = maxc - x.amin(dim=-3)
    inv = 1.0 / chroma.clamp_min(1e-6)
    h = torch.where(maxc == r, (g - b) * inv, torch.where(maxc == g, (b - r) * inv + 2.0, (r - g) * inv + 4.0))
    h = torch.remainder(h + 6.0 * shift.view(-1, 1, 1), 6.0)  # hue in sextants, [0, 6)
    out = torch.empty_like(x)
    for ch, n in enumerate((5.0, 3.0, 1.0)):  # RGB channel = V - C * clamp(min(k, 4 - k), 0, 1)
        k = torch.remainder(h + n, 6.0)
        out[:, ch] = maxc - chroma * torch.clamp(torch.minimum(k, 4.0 - k), 0.0, 1.0)
    return out


@dataclass
class ColorJitterParams:
    """Per-frame jitter draws: factors (N,) and, per frame, the order of the four adjustments (N, 4)."""

    brightness: torch.Tensor
    contrast: torch.Tensor
    saturation: torch.Tensor
    hue: torch.Tensor
    order: torch.Tensor


def sample_jitter(n: int, generator: torch.Generator | None, brightness: float, contrast: float,
                  saturation: float, hue: float, per_frame: bool = True) -> ColorJitterParams:
    """Draw factors as torchvision's ColorJitter does (uniform in [1-x, 1+x], hue in [-x, x], a random order
    of the four ops), either independently for each of ``n`` frames or once and repeated."""
    m = n if per_frame else 1

    def uni(low: float, high: float) -> torch.Tensor:
        return torch.empty(m).uniform_(low, high, generator=generator)

    one = torch.ones(m)
    params = ColorJitterParams(
        brightness=uni(max(0.0, 1 - brightness), 1 + brightness) if brightness else one,
        contrast=uni(max(0.0, 1 - contrast), 1 + contrast) if contrast else one,
        saturation=uni(max(0.0, 1 - saturation), 1 + saturation) if saturation else one,
        hue=uni(-hue, hue) if hue else torch.zeros(m),
        order=torch.stack([torch.randperm(4, generator=generator) for _ in range(m)]),
    )
    if not per_frame:
        params = ColorJitterParams(*(t.expand(n, *t.shape[1:]) for t in (
            params.brightness, params.contrast, params.saturation, params.hue, params.order)))
    return params


def _jitter_op(op: int, x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    f = factor.view(-1, 1, 1, 1)
    if op == 0:  # brightness: blend with black
        return (x * f).clamp_(0, 255)
    if op == 1:  # contrast: blend with the mean grey level of the frame
        mean = _gray(x).mean(dim=(-3, -2, -1), keepdim=True)
        return (x * f + mean * (1 - f)).clamp_(0, 255)
    if op == 2:  # saturation: blend with the grey image
        return (x * f + _gray(x) * (1 - f)).clamp_(0, 255)
    return adjust_hue_batched(x, factor)


def apply_jitter(frames: torch.Tensor, p: ColorJitterParams) -> torch.Tensor:
    """Apply per-frame jitter draws to uint8 ``(N, 3, H, W)`` frames; returns float32 in [0, 255].

    Frames that share an op at a given step of their order are processed together, so the work is batched
    while every frame keeps its own factors and order.
    """
    x = frames.to(torch.float32)
    identity = (p.brightness == 1, p.contrast == 1, p.saturation == 1, p.hue == 0)
    for step in range(4):
        for op in range(4):
            sel = ((p.order[:, step] == op) & ~identity[op]).nonzero().flatten()
            if sel.numel() == len(x):
                x = _jitter_op(op, x, _factor(p, op))
            elif sel.numel():
                x[sel] = _jitter_op(op, x[sel], _factor(p, op)[sel])
    return x


def _factor(p: ColorJitterParams, op: int) -> torch.Tensor:
    return (p.brightness, p.contrast, p.saturation, p.hue)[op]


@dataclass
class TrainTransform:
    """The training pipeline of docs/method.md §3.5 (see the module docstring)."""

    size: int = 224
    scales: tuple[float, ...] = MULTISCALE_SCALES
    max_distort: int = 1
    flip_p: float = 0.5
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.2, 0.1)
    jitter_p: float = 0.8
    jitter_per_frame: bool = True
    gray_p: float = 0.2
    normalize: Normalize = field(default_factory=Normalize)

    @property
    def resize_short(self) -> int:
        return resize_short_side_for(self.size)

    @property
    def min_source_short_side(self) -> int:
        """Source detail beyond this short side is discarded by step 1 anyway (lets readers decode smaller)."""
        return self.resize_short

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h, w = video.shape[-2:]
        box = multiscale_crop_box(h, w, self.resize_short, generator, self.scales, self.max_distort)
        out = crop_resize(video, box, self.size)
        if _chance(generator, self.flip_p):
            out = out.flip(-1)
        if _chance(generator, self.jitter_p):
            out = apply_jitter(out, sample_jitter(len(out), generator, *self.jitter, per_frame=self.jitter_per_frame))
        if _chance(generator, self.gray_p):
            out = F.rgb_to_grayscale(out, num_output_channels=3)
        return self.normalize(out)


@dataclass
class EvalTransform:
    """The test pipeline: centre crop of the short-side-R frame (1 crop) or three crops (see the module
    docstring). Deterministic; the generator argument is accepted for a uniform interface."""

    size: int = 224
    num_crops: Literal[1, 3] = 1
    normalize: Normalize = field(default_factory=Normalize)

    def __post_init__(self) -> None:
        if self.num_crops not in (1, 3):
            raise ValueError(f"num_crops must be 1 or 3, got {self.num_crops}")

    @property
    def resize_short(self) -> int:
        return resize_short_side_for(self.size) if self.num_crops == 1 else self.size

    @property
    def min_source_short_side(self) -> int:
        return self.resize_short

    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        h, w = video.shape[-2:]
        if self.num_crops == 1:
            box = center_crop_box(h, w, self.resize_short, self.size)
            return self.normalize(crop_resize(video, box, self.size))
        boxes = three_crop_boxes(h, w, self.size)
        return torch.stack([self.normalize(crop_resize(video, b, self.size)) for b in boxes])


def build_transform(mode: Literal["train", "test"], size: int = 224,
                    normalize: str | tuple[Sequence[float], Sequence[float]] = "imagenet", num_crops: int = 1,
                    **train_options: object) -> TrainTransform | EvalTransform:
    """The transform for ``mode`` at target ``size``; ``train_options`` override :class:`TrainTransform` fields."""
    norm = Normalize.named(normalize)
    if mode == "train":
        return TrainTransform(size=size, normalize=norm, **train_options)  # type: ignore[arg-type]
    if mode == "test":
        if train_options:
            raise TypeError(f"options {sorted(train_options)} apply to the train transform only")
        return EvalTransform(size=size, num_crops=num_crops, normalize=norm)  # type: ignore[arg-type]
    raise ValueError(f"mode must be 'train' or 'test', got {mode!r}")
