"""Finding what the user pointed at: the folder of the split files, the folder that holds the clips (searched a few
levels down when the given one does not), and the folds whose split files exist."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence

from ..errors import DataError
from ..media import VIDEO_EXTENSIONS
from .rows import SplitRow

# Clips sampled to decide where the media is; folders with more subfolders than this hold clips, not the parts
# of a release, and are not searched below.
_SAMPLE = 200
_MAX_SUBFOLDERS = 64


class MediaIndex:
    """Finds clips under a root, as a frame folder ``<clip>/`` or a video ``<clip>.<ext>`` (a folder wins), listing
    each folder once."""

    def __init__(self, root: str) -> None:
        self.root = root
        self._folders: dict[str, dict[str, str]] = {}

    def _entries(self, parent: str) -> dict[str, str]:
        found = self._folders.get(parent)
        if found is None:
            found = {}
            try:
                with os.scandir(os.path.join(self.root, parent)) as it:
                    for entry in it:
                        stem, ext = os.path.splitext(entry.name)
                        if entry.is_dir():
                            found[entry.name] = entry.name
                        elif ext.lower() in VIDEO_EXTENSIONS:
                            found.setdefault(stem, entry.name)
            except OSError:
                pass
            self._folders[parent] = found
        return found

    def find(self, row: SplitRow) -> str | None:
        """The clip's path relative to the root, or None."""
        for name in (row.clip, *row.aliases):
            parent, _, stem = name.rpartition("/")
            entry = self._entries(parent).get(stem)
            if entry is not None:
                return f"{parent}/{entry}" if parent else entry
        return None

    def hits(self, rows: Sequence[SplitRow]) -> int:
        return sum(self.find(r) is not None for r in rows)


def _subfolders(path: str) -> list[str]:
    try:
        with os.scandir(path) as it:
            return sorted(e.path for e in it if e.is_dir() and not e.name.startswith("."))
    except OSError:
        return []


def _sample(rows: Sequence[SplitRow], n: int = _SAMPLE) -> list[SplitRow]:
    """Up to ``n`` distinct clips spread over ``rows``."""
    unique = list({r.clip: r for r in rows}.values())
    step = max(1, len(unique) // n)
    return unique[::step][:n]


def locate_media_root(root: str, rows: Sequence[SplitRow], preferred: Sequence[str] = (),
                      depth: int = 3) -> tuple[str, str | None]:
    """The folder that holds the clips: ``root`` itself when it holds at least half of a sample of them, otherwise
    the subfolder (at most ``depth`` levels down) holding the most; returns (folder, a note saying what was chosen
    or None)."""
    sample = _sample(rows)
    at_root = MediaIndex(root).hits(sample)
    if not sample or 2 * at_root >= len(sample):
        return root, None
    candidates: list[tuple[int, int, str]] = []  # (hits, level, folder)
    frontier = [root]
    for level in range(1, depth + 1):
        below: list[str] = []
        for folder in frontier:
            subs = _subfolders(folder)
            if len(subs) > _MAX_SUBFOLDERS:
                continue
            for sub in subs:
                hits = MediaIndex(sub).hits(sample)
                if hits > at_root:
                    candidates.append((hits, level, sub))
                below.append(sub)
        frontier = below
    if not candidates:
        return root, None
    best = max(h for h, _, _ in candidates)
    rank = {name: i for i, name in enumerate(preferred)}
    hits, level, chosen = min((c for c in candidates if c[0] == best),
                              key=lambda c: (rank.get(os.path.basename(c[2]), len(rank)), c[1], c[2]))
    others = [f for h, _, f in candidates if f != chosen and 2 * h >= len(sample)]
    where = "one level down" if level == 1 else f"{level} levels down"
    note = (f"media: {root} holds {at_root} of {len(sample)} sampled clips; using {chosen} ({where}, "
            f"{hits} of {len(sample)} found)")
    if others:
        note += f"; also holding the clips: {', '.join(others)} (pass one as the media folder to use it instead)"
    return chosen, note


def locate_labels(labels_dir: str, is_labels: Callable[[str], bool], what: str, preferred: Sequence[str] = (),
                  depth: int = 3) -> tuple[str, str | None]:
    """The folder of the split files: ``labels_dir`` itself, or the subfolder (up to ``depth`` levels down) that
    ``is_labels``; returns (folder, a note saying what was chosen or None)."""
    if not os.path.isdir(labels_dir):
        raise DataError(f"split-file folder not found: {labels_dir}", hint=f"give the folder that holds {what}")
    if is_labels(labels_dir):
        return labels_dir, None
    frontier = [labels_dir]
    for _ in range(depth):
        found: list[str] = []
        below: list[str] = []
        for folder in frontier:
            subs = _subfolders(folder)
            if len(subs) > _MAX_SUBFOLDERS:
                continue
            below += subs
            found += [s for s in subs if is_labels(s)]
        if found:
            def rank(f: str) -> tuple[int, str]:
                rel = os.path.relpath(f, labels_dir).replace(os.sep, "/")
                return next((i for i, p in enumerate(preferred) if rel.endswith(p)), len(preferred)), f
            found.sort(key=rank)
            if len(found) > 1 and rank(found[0])[0] == rank(found[1])[0]:
                raise DataError(f"{labels_dir}: several folders hold {what}: {', '.join(found[:4])}",
                                hint="give the one to use")
            return found[0], f"split files: using {found[0]} (found below {labels_dir})"
        frontier = below
    raise DataError(f"{labels_dir}: no {what} here or up to {depth} levels below",
                    hint=f"give the folder that holds {what}")


def choose_folds(folds: Iterable[int] | None, paths: Callable[[int], list[str]], labels_dir: str) -> list[int]:
    """The folds to convert: the requested ones (each must have its split files), or every fold whose split files
    all exist."""
    if folds is not None:
        out = sorted(set(folds))
        if not out or any(not 1 <= k <= 5 for k in out):
            raise DataError(f"folds must be within 1..5, got {out}")
        return out
    found = []
    for k in range(1, 6):
        exists = [os.path.isfile(p) for p in paths(k)]
        if all(exists):
            found.append(k)
        elif any(exists):
            missing = [p for p, e in zip(paths(k), exists, strict=True) if not e]
            raise DataError(f"fold {k} is incomplete: {missing[0]} not found (its other split file exists)",
                            hint="restore the file, or choose the folds to convert (--folds)")
    if not found:
        raise DataError(f"{labels_dir}: no fold's split files found (looked for {paths(1)[0]}, ...)",
                        hint="give the folder of the official split files")
    return found
