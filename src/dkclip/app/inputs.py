"""Uploads into inputs: what the browser sent, placed in the session's own folder under the names the user gave.

The results name an input by its own file name (``scene.mp4``), as ``dkclip predict scene.mp4`` would, not by the
server's temporary path. Images sent together are the frames of one clip (a frame folder, read in natural name
order); every other file is a video of its own. Files are hard-linked into the session folder when they can be
(uploads and sessions share the app's temporary folder), copied otherwise.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError
from ..predict.sources import IMAGE_EXTENSIONS

FRAMES_NAME = "frames"  # the clip made of uploaded images
MAX_INPUTS = 50


@dataclass(frozen=True)
class StagedInput:
    """One input of a run: ``name`` is what the outputs call it, ``path`` where it lies on the server."""

    name: str
    path: Path


def upload_key(uploads: Sequence[str]) -> tuple[tuple[str, int, int], ...]:
    """Identifies a set of uploads: the same key on the next run means the same files (a rerun)."""
    key = []
    for item in uploads:
        st = os.stat(item)
        key.append((os.path.abspath(item), st.st_size, st.st_mtime_ns))
    return tuple(key)


def _size(n: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} GB"


def check_uploads(uploads: Sequence[str], max_bytes: int) -> None:
    """Refuse what cannot be run, in plain words: nothing chosen, too many files, a file too big or empty."""
    if not uploads:
        raise UsageError("choose a video (or several files, or the images of a clip) first")
    if len(uploads) > MAX_INPUTS:
        raise UsageError(f"{len(uploads)} files sent; this app runs at most {MAX_INPUTS} at once")
    for item in uploads:
        name = Path(item).name
        if not os.path.isfile(item):
            raise UsageError(f"{name}: the upload did not arrive (try again)")
        size = os.path.getsize(item)
        if size == 0:
            raise UsageError(f"{name}: the file is empty (0 bytes)")
        if size > max_bytes:
            raise UsageError(f"{name} is {_size(size)}; this app takes files up to {_size(max_bytes)} "
                             "(start it with a larger --max-upload-mb, or use dkclip predict)")


def _place(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def stage_inputs(uploads: Sequence[str], folder: Path, max_bytes: int) -> list[StagedInput]:
    """Place ``uploads`` (paths of uploaded files, each named as the user's file) in ``folder``: one input per
    video, and one frame folder for all the images."""
    check_uploads(uploads, max_bytes)
    images = [Path(u) for u in uploads if Path(u).suffix.lower() in IMAGE_EXTENSIONS]
    videos = [Path(u) for u in uploads if Path(u).suffix.lower() not in IMAGE_EXTENSIONS]
    staged: list[StagedInput] = []
    used: set[str] = set()
    for video in videos:
        name = _distinct(video.name, used)
        _place(video, folder / name)
        staged.append(StagedInput(name, folder / name))
    if images:
        name = _distinct(FRAMES_NAME, used)
        names = [p.name for p in images]
        if len(set(names)) != len(names):
            twice = sorted({n for n in names if names.count(n) > 1})
            raise UsageError(f"the images of one clip need distinct names; sent twice: {', '.join(twice[:5])}")
        for image in images:
            _place(image, folder / name / image.name)
        staged.append(StagedInput(name, folder / name))
    return staged


def _distinct(name: str, used: set[str]) -> str:
    """``name``, or ``stem_2.ext``, ``stem_3.ext``, ... when an input of that name is already there."""
    stem, ext = os.path.splitext(name)
    candidate, n = name, 1
    while candidate in used:
        n += 1
        candidate = f"{stem}_{n}{ext}"
    used.add(candidate)
    return candidate
