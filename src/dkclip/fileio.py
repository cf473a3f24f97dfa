"""Atomic file writes: write a temporary file in the target folder, then rename over the target.

A crash or Ctrl-C mid-write never leaves a half-written checkpoint, config or result file behind: the previous
file stays as it was until the rename. A full disk (``ENOSPC``, or a quota, ``EDQUOT``) is a one-line
:class:`DiskFullError` that says where and that the previous file is intact; the temporary file is removed.
JSON is written without NaN or infinity (JSON has neither): a value that is not a finite number is written as
``null``.
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from .errors import DKClipError

_FULL = (errno.ENOSPC, errno.EDQUOT)


class DiskFullError(DKClipError, OSError):
    """No space (or quota) left where a file was being written; the previous version of the file is intact."""


def _is_disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return True
    # Writers with their own I/O layer (safetensors, torch's zip writer given a path) report errno 28 in text.
    text = str(exc)
    return "No space left on device" in text or "os error 28" in text or "Disk quota exceeded" in text


def _free_space(folder: Path) -> str:
    try:
        free = float(shutil.disk_usage(folder).free)
    except OSError:
        return "unknown"
    unit = "bytes"
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB"):
        if free < 1024 or unit == "TiB":
            break
        free /= 1024
    return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"


_PLAIN_REASONS = {
    errno.ENOENT: "a folder on the way does not exist",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.EROFS: "the file system is read-only",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "the disk quota is exhausted",
    errno.ENOTDIR: "a part of the path is a file, not a folder",
    errno.EISDIR: "it is a folder, not a file",
    errno.EEXIST: "a file of that name is in the way",
    errno.ENAMETOOLONG: "the name is too long",
}


def plain_reason(exc: OSError) -> str:
    """What went wrong, in plain words (no ``[Errno 2]``)."""
    return _PLAIN_REASONS.get(exc.errno or 0, exc.strerror or str(exc))


def disk_full_error(path: Path, existed: bool) -> DiskFullError:
    previous = (f"the previous {path.name} is intact" if existed else f"no {path.name} was written (there was none "
                "before)")
    return DiskFullError(f"no space left on the device writing {path} (free: {_free_space(path.parent)}); "
                         f"{previous}",
                         hint=f"free space in {path.parent} (or point the output elsewhere) and run again")


def atomic_write(path: str | os.PathLike, write: Callable[[str], Any]) -> Path:
    """Call ``write(tmp_path)``, then move the temporary file to ``path``."""
    path = Path(path)
    return atomic_write_set(path.parent, {path.name: write})[0]


def atomic_write_set(directory: str | os.PathLike, writers: dict[str, Callable[[str], Any]]) -> list[Path]:
    """Write several files that belong together (a model's weights and config): each ``writers[name](tmp_path)``
    writes a temporary file in ``directory``, then all are moved to their names at once, with Ctrl-C and SIGTERM
    held until the last move (:func:`commit_files`). An error or interrupt before that leaves every previous file
    as it was and no temporary file behind."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    temporaries: dict[str, str] = {}
    current = next(iter(writers), "")
    try:
        for current, write in writers.items():
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{current}.", suffix=".tmp")
            os.close(fd)
            temporaries[current] = tmp
            write(tmp)
            os.chmod(tmp, 0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual permissions
        staged = [Path(tmp) for tmp in temporaries.values()]
        return commit_files(staged, folder, names=list(temporaries))
    except Exception as exc:
        if _is_disk_full(exc):
            raise disk_full_error(folder / current, (folder / current).exists()) from exc
        raise
    finally:
        for tmp in temporaries.values():
            if os.path.exists(tmp):
                os.unlink(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    def write(tmp: str) -> None:
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(text)

    return atomic_write(path, write)


def finite_or_none(value: Any) -> Any:
    """``value`` with every float that is NaN or infinite (also inside lists, tuples and dicts) replaced by None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite_or_none(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite_or_none(v) for v in value]
    return value


def atomic_write_json(path: str | os.PathLike, data: Any) -> Path:
    """JSON, indented; NaN and infinities become ``null`` (``allow_nan=False`` guarantees none slips through)."""
    return atomic_write_text(path, json.dumps(finite_or_none(data), indent=2, allow_nan=False) + "\n")


def commit_files(staged: Sequence[Path], folder: str | os.PathLike, replaced: Sequence[str] = (),
                 names: Sequence[str] | None = None) -> list[Path]:
    """Move a finished set of files (written elsewhere on the same file system, e.g. a staging sub-folder) into
    ``folder`` (under ``names``, default their own), and delete the files named in ``replaced`` that the set does
    not contain (what a previous set had and this one has not), so that the files in ``folder`` always belong to
    one set. Ctrl-C and SIGTERM are held until every move is done (:func:`dkclip.signals.deferred_signals`): each
    file is either the old or the new one, and the set is never half old, half new."""
    from .signals import deferred_signals

    target = Path(folder)
    final = list(names) if names is not None else [p.name for p in staged]
    with deferred_signals():
        for name in replaced:
            if name not in final:
                (target / name).unlink(missing_ok=True)
        moved = []
        for p, name in zip(staged, final, strict=True):
            os.replace(p, target / name)
            moved.append(target / name)
    return moved
