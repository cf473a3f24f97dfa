"""What ``dkclip predict`` (and the app) write is kept: results are never replaced by another input's, two runs
never write into one folder at once, and an interrupted run leaves the previous complete set or nothing.

- :func:`prepare_output` (before any prediction): the folder is created (an unusable path is a one-line error in
  plain words), locked for this process (:class:`dkclip.engine.runlock.RunLock`: a second run into it is refused,
  naming the owner's pid) and cleared of staging folders a killed run left behind.
- :func:`check_replace`: a folder that holds the results of another input (``windows.json`` names it) or result
  files ``dkclip predict`` did not write is refused, naming the folder and what is in it, unless ``overwrite``;
  the results of the same input are replaced (a rerun, e.g. with other settings). A rendered video records its
  input in the file's metadata and follows the same rule.
- :func:`save_result`: the tables and pictures of one result (and its annotated video) are written to staging
  sub-folders and moved into place together (:func:`dkclip.fileio.commit_files`, Ctrl-C and SIGTERM held for
  the moves); files of the previous set that the new one lacks (``aus.png`` after ``--no-aus``) are removed, so
  a folder's files always belong together.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DKClipError, UsageError
from ..fileio import commit_files, plain_reason
from ..signals import deferred_signals

if TYPE_CHECKING:
    from ..engine.runlock import RunLock
    from .result import PredictionResult

# Every file a result set may hold; windows.json names the input (its "source").
RESULT_FILES = ("frames.csv", "windows.csv", "windows.json", "timeline.png", "aus.png")
STAGING_PREFIX = ".dkclip-partial-"
RENDER_TAG = "dkclip predict: "  # the rendered video's "comment" metadata: this + the input


class OutputConflictError(UsageError):
    """The output would replace results this run did not make."""


def plain_os_error(what: str, path: Path, exc: OSError) -> UsageError:
    """An :class:`OSError` while creating ``path`` as one plain sentence (no ``[Errno 2]``)."""
    return UsageError(f"cannot create {what} {path}: {plain_reason(exc)}",
                      hint="choose a folder you can write to (--out)")


def prepare_output(folder: str | os.PathLike[str]) -> RunLock:
    """Create ``folder``, lock it for this process and remove a killed run's staging folders; returns the lock
    (release it when done)."""
    from ..engine.runlock import RunLock

    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f"{STAGING_PREFIX}probe-{os.getpid()}"
        probe.mkdir(exist_ok=True)
        probe.rmdir()
    except OSError as exc:
        raise plain_os_error("the output folder", path, exc) from None
    lock = RunLock(path).acquire()
    for pattern in (f"{STAGING_PREFIX}*", f"*/{STAGING_PREFIX}*"):  # the folder and a batch's sub-folders
        for stale in path.glob(pattern):
            shutil.rmtree(stale, ignore_errors=True)
    return lock


def results_source(folder: Path) -> str | None:
    """The input whose results ``folder`` holds (from its ``windows.json``), or None."""
    try:
        data = json.loads((folder / "windows.json").read_text())
    except (OSError, ValueError):
        return None
    source = data.get("source") if isinstance(data, dict) else None
    return str(source) if source is not None else None


def rendered_source(video: Path) -> str | None:
    """The input a video rendered by ``dkclip predict`` shows (its metadata), or None."""
    import av

    try:
        with av.open(str(video)) as container:
            comment = str(container.metadata.get("comment", ""))
    except (OSError, av.error.FFmpegError):
        return None
    return comment.removeprefix(RENDER_TAG) if comment.startswith(RENDER_TAG) else None


def same_input(a: str, b: str) -> bool:
    return os.path.abspath(a) == os.path.abspath(b)


def check_replace(source: str, folder: Path | None = None, render: Path | None = None,
                  overwrite: bool = False) -> None:
    """Refuse to replace results of another input (module docstring)."""
    if overwrite:
        return
    hint = "choose another --out (or --render), or add --overwrite to replace them"
    if folder is not None:
        present = [name for name in RESULT_FILES if (folder / name).exists()]
        if present:
            owner = results_source(folder)
            if owner is None:
                raise OutputConflictError(f"{folder} holds {', '.join(present)}, not written by dkclip predict "
                                          f"for {source}", hint=hint)
            if not same_input(owner, source):
                raise OutputConflictError(f"{folder} holds the results of another input, {owner} "
                                          f"({', '.join(present)})", hint=hint)
    if render is not None and render.exists():
        owner = rendered_source(render)
        if owner is None or not same_input(owner, source):
            shows = f"a video rendered from {owner}" if owner else "a file dkclip predict did not render"
            raise OutputConflictError(f"{render} is {shows}", hint=hint)


def save_result(result: PredictionResult, out: str | os.PathLike[str] | None = None, *, plot: bool = True,
                render: str | os.PathLike[str] | None = None, overwrite: bool = False) -> list[Path]:
    """Everything a prediction writes, as one set: the tables and pictures in ``out``
    (:meth:`PredictionResult.save`) and the annotated video at ``render``, both staged first and moved into place
    together (module docstring); results of another input are refused unless ``overwrite``."""
    folder = Path(out) if out is not None else None
    video = Path(render) if render is not None else None
    check_replace(result.source, folder, video, overwrite)
    stages = [p for p in (folder, video.parent if video is not None else None) if p is not None]
    try:
        staged = result.save(_stage(folder), plot=plot) if folder is not None else []
        staged_video = result.render(_stage(video.parent) / video.name) if video is not None else None
        with deferred_signals():
            written = commit_files(staged, folder, replaced=RESULT_FILES) if folder is not None else []
            if video is not None and staged_video is not None:
                os.replace(staged_video, video)
                written.append(video)
        return written
    except OSError as exc:
        if isinstance(exc, DKClipError):  # e.g. DiskFullError, which already says what is intact
            raise
        where = folder if folder is not None else video
        raise plain_os_error("the results in", where or Path("."), exc) from None
    finally:
        for parent in stages:
            shutil.rmtree(parent / f"{STAGING_PREFIX}{os.getpid()}", ignore_errors=True)


def _stage(folder: Path) -> Path:
    """This process's staging sub-folder of ``folder`` (same file system: the final moves are renames)."""
    stage = folder / f"{STAGING_PREFIX}{os.getpid()}"
    stage.mkdir(parents=True, exist_ok=True)
    return stage
