"""A contact sheet of sample frames: one row per class (apex frames of several identities) and one row of
noisy frames, with the class names in a left margin. Used for the README and to eyeball legibility."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .aus import class_names
from .render import ClipSpec, render_clip
from .synth_config import NOISE_KINDS, SynthConfig

_MARGIN = 110


def _apex_frame(frames: np.ndarray, truth) -> np.ndarray:
    tl = truth.timeline
    candidates = [t for t in range(tl.apex_start, tl.apex_end) if truth.blink[t] == 0] or [tl.apex_start]
    return frames[candidates[len(candidates) // 2]]


def make_strip(path: str | Path | None = None, num_classes: int = 7, columns: int = 6, seed: int = 0,
               config: SynthConfig | None = None) -> Image.Image:
    """Render the strip; save it as PNG when ``path`` is given. Returns the image."""
    cfg = config or SynthConfig()
    names = class_names(num_classes)
    size = cfg.size
    tiles: list[list[np.ndarray]] = []
    labels: list[str] = []
    clean = replace(cfg, noise_kinds=())
    for label, name in enumerate(names):
        row = []
        for col in range(columns):
            spec = ClipSpec(clip_id=f"strip{label}_{col}", label=label, identity=col, num_frames=24,
                            index=1000 * label + col, seed=seed, num_classes=num_classes, noisy=False, config=clean)
            frames, truth = render_clip(spec)
            row.append(_apex_frame(frames, truth))
        tiles.append(row)
        labels.append(f"{label} {name}")
    row = []
    kinds = [k for k in NOISE_KINDS if k in cfg.noise_kinds] or list(NOISE_KINDS)
    for col in range(columns):
        kind = kinds[col % len(kinds)]
        noisy = replace(cfg, noise_kinds=(kind,), noise_fraction=(0.45, 0.5))
        spec = ClipSpec(clip_id=f"noise{col}", label=col % num_classes, identity=columns + col, num_frames=24,
                        index=99_000 + col, seed=seed, num_classes=num_classes, noisy=True, config=noisy)
        frames, truth = render_clip(spec)
        ev = truth.noise_events[0]
        row.append(frames[(ev["start"] + ev["end"] - 1) // 2])
    tiles.append(row)
    labels.append("noisy: " + "/".join(k[:5] for k in kinds[:columns]))

    gap = 2
    width = _MARGIN + columns * (size + gap)
    height = len(tiles) * (size + gap)
    sheet = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=13)
    for r, (row_tiles, text) in enumerate(zip(tiles, labels, strict=True)):
        y = r * (size + gap)
        for c, tile in enumerate(row_tiles):
            sheet.paste(Image.fromarray(tile), (_MARGIN + c * (size + gap), y))
        lines = text.split(": ", 1) if ":" in text else [text]
        for k, line in enumerate(lines):
            draw.text((6, y + size // 2 - 8 * len(lines) + 16 * k), line, fill=(0, 0, 0), font=font)
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        sheet.save(path, format="PNG", optimize=False)
    return sheet
