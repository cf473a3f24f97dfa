"""Predicting over many inputs and writing what was found: the library behind ``dkclip predict`` (and the app).

:func:`predict_inputs` expands what the user named (videos, frame folders, images, directories, list files), runs
a :class:`~dkclip.predict.predictor.Predictor` over each (each rank its share under torchrun, the reports gathered
on rank 0), writes each result with :func:`~dkclip.predict.output_folder.save_result` (one sub-folder per input
when there are several) and, for a batch, ``index.csv``. An input that cannot be read is reported by name and the
rest go on; with a single input its error is raised.

Nothing written before is lost (:mod:`dkclip.predict.output_folder`): the output folder is locked for the run,
every output is checked before the first prediction (results of another input are refused unless ``overwrite``),
and Ctrl-C or SIGTERM stops the run with :class:`BatchInterrupted`, which says which inputs' results were written
and that the interrupted input's folder keeps its previous results (or none).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DKClipError, UsageError
from ..fileio import atomic_write_text
from ..signals import interrupt_exit_code, signal_name
from ..video_writer import CONTAINERS
from .output_folder import check_replace, prepare_output, save_result

if TYPE_CHECKING:
    from ..engine.runlock import RunLock
    from .predictor import Predictor
    from .result import PredictionResult

INDEX_NAME = "index.csv"


@dataclass
class InputReport:
    """One input of a batch: a row of ``index.csv``."""

    input: str
    output: str = ""
    status: str = "ok"  # ok | failed
    faces: int = 0
    windows: int = 0
    error: str = ""

    def row(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchOutcome:
    reports: list[InputReport] = field(default_factory=list)
    is_main: bool = True  # False on the other ranks of a distributed run: they write and print nothing

    @property
    def failed(self) -> list[InputReport]:
        return [r for r in self.reports if r.status != "ok"]


class BatchInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a batch; ``message`` says what was kept, ``exit_code`` is 130 or 143."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


ResultCallback = Callable[["PredictionResult", float], None]
FailureCallback = Callable[[InputReport], None]


def output_names(paths: Sequence[Path]) -> list[str]:
    """A distinct folder name per input (its file or folder name without extension; _2, _3 for repeats)."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for p in paths:
        base = (p.stem if p.suffix else p.name) or "input"
        n = seen.get(base, 0) + 1
        seen[base] = n
        names.append(base if n == 1 else f"{base}_{n}")
    return names


def error_message(exc: DKClipError | OSError) -> str:
    """One line for a failed input, naming the file (OSError's own text may not)."""
    message = str(exc).strip() or type(exc).__name__
    if isinstance(exc, OSError) and exc.filename is not None and str(exc.filename) not in message:
        message = f"{message}: {exc.filename}"
    return message


def resolve_inputs(inputs: Sequence[str | os.PathLike[str]], render: str | os.PathLike[str] | None = None
                   ) -> tuple[list[Path], list[str | None]]:
    """The media to run (:func:`dkclip.predict.sources.expand_inputs`) and each one's output name (None for a
    single input, which writes straight into the output folder)."""
    from .sources import expand_inputs

    paths = expand_inputs(inputs)
    if not paths:
        raise UsageError(f"no videos, frame folders or images found in {' '.join(str(i) for i in inputs)}")
    several = len(paths) > 1
    if several and render is not None and Path(render).suffix.lower() in CONTAINERS:
        raise UsageError(f"--render {render}: with {len(paths)} inputs, --render names a folder")
    return paths, (list(output_names(paths)) if several else [None])


def render_target(render: str | os.PathLike[str] | None, paths: Sequence[Path]) -> Path | None:
    """Where ``--render`` puts the annotated video(s). With several inputs it is a folder. With one, a video file
    name (.mp4, .mov, .mkv, ...) is the file, and a folder (one that exists, or a name without extension) gets
    ``<input name>.mp4`` inside, as with several; any other extension is refused (it used to get an mp4 under
    that name, and an existing empty folder was called 'a file dkclip predict did not render')."""
    if render is None:
        return None
    target = Path(render)
    if len(paths) > 1 or target.suffix.lower() in CONTAINERS:
        return target
    if target.is_dir() or not target.suffix:
        return target / f"{output_names(paths)[0]}.mp4"
    raise UsageError(f"--render {render}: a video file name ends with {', '.join(CONTAINERS)} (or name a folder)")


@dataclass(frozen=True)
class Destinations:
    """Where each input's results go: ``out`` (a folder) and ``render`` (a file for one input, a folder for
    several), either optional."""

    out: Path | None = None
    render: Path | None = None
    plot: bool = True
    overwrite: bool = False

    def folder(self, name: str | None) -> Path | None:
        return None if self.out is None else (self.out / name if name else self.out)

    def video(self, name: str | None) -> Path | None:
        return None if self.render is None else (self.render / f"{name}.mp4" if name else self.render)

    def check(self, paths: Sequence[Path], names: Sequence[str | None]) -> None:
        """Refuse, before anything runs, outputs that hold another input's results."""
        for path, name in zip(paths, names, strict=True):
            check_replace(str(path), self.folder(name), self.video(name), self.overwrite)


def run_shard(predictor: Predictor, paths: Sequence[Path], names: Sequence[str | None], dest: Destinations, *,
              on_result: ResultCallback | None = None, on_failure: FailureCallback | None = None,
              rank: int = 0, world: int = 1, done: list[InputReport] | None = None) -> list[InputReport]:
    """Predict this rank's share of ``paths`` (every ``world``-th from ``rank``) and write each result; each
    finished input's report is appended to ``done`` (also when a later one is interrupted)."""
    reports = done if done is not None else []
    mine = list(range(rank, len(paths), world))
    started = time.perf_counter()
    for i, (path, outcome) in zip(mine, predictor.predict_many(paths[i] for i in mine), strict=True):
        name = names[i]
        report = InputReport(input=str(path), output=name or "")
        try:
            if isinstance(outcome, DKClipError | OSError):
                raise outcome
            save_result(outcome, dest.folder(name), plot=dest.plot, render=dest.video(name),
                        overwrite=dest.overwrite)
        except (DKClipError, OSError) as exc:
            if len(paths) == 1:
                raise
            report.status, report.error = "failed", error_message(exc)
            if on_failure is not None:
                on_failure(report)
        else:
            report.faces, report.windows = outcome.num_faces, len(outcome.windows)
            if on_result is not None:
                on_result(outcome, time.perf_counter() - started)
        reports.append(report)
        started = time.perf_counter()
    return reports


def write_index(out: str | os.PathLike[str], reports: Sequence[InputReport]) -> Path:
    """``index.csv`` of a batch: one row per input of this batch, in the order given, then the rows of earlier
    batches into the same folder whose outputs this batch did not touch (their sub-folders are still there)."""
    path = Path(out) / INDEX_NAME
    mine = {r.output for r in reports}
    earlier: list[dict[str, str]] = []
    if path.is_file():
        with path.open(newline="") as fh:
            earlier = [row for row in csv.DictReader(fh) if row.get("output") not in mine]
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(InputReport.__dataclass_fields__), extrasaction="ignore")
    writer.writeheader()
    writer.writerows([*(r.row() for r in reports), *earlier])
    return atomic_write_text(path, text.getvalue())


def predict_inputs(build: Callable[[Any], Predictor], inputs: Sequence[str | os.PathLike[str]], *,
                   out: str | os.PathLike[str] | None = None, plot: bool = True,
                   render: str | os.PathLike[str] | None = None, overwrite: bool = False,
                   device: str | None = None, on_result: ResultCallback | None = None,
                   on_failure: FailureCallback | None = None) -> BatchOutcome:
    """Predict over every input the user named and write the results (module docstring).

    ``build(device)`` makes the predictor, on ``device`` (None: the predictor's default; under torchrun, this
    rank's device); it is called after the outputs were checked, so a refused output costs no model loading.
    ``on_result(result, seconds)`` and ``on_failure(report)`` are called per input as it finishes (every rank).
    """
    paths, names = resolve_inputs(inputs, render)
    dest = Destinations(Path(out) if out is not None else None, render_target(render, paths),
                        plot, overwrite)
    locks = _lock_outputs(dest, len(paths) > 1)
    done: list[InputReport] = []
    try:
        dest.check(paths, names)
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            outcome = _predict_distributed(build, paths, names, dest, device, on_result, on_failure)
        else:
            outcome = BatchOutcome(run_shard(build(device), paths, names, dest, on_result=on_result,
                                             on_failure=on_failure, done=done))
        if outcome.is_main and out is not None and len(paths) > 1:
            write_index(out, outcome.reports)
        return outcome
    except KeyboardInterrupt as exc:
        if out is not None and len(paths) > 1 and done:
            write_index(out, done)
        raise BatchInterrupted(_interrupted_message(exc, paths, names, done, dest),
                               interrupt_exit_code(exc)) from None
    finally:
        for lock in locks:
            lock.release()


def _lock_outputs(dest: Destinations, several: bool) -> list[RunLock]:
    """Create the folders this run writes into and lock them for it (``out``, and ``render`` when it names a
    folder); under torchrun rank 0 holds the locks for every rank."""
    folders = [dest.out] if dest.out is not None else []
    if dest.render is not None:
        folder = dest.render if several else dest.render.parent
        if folder != dest.out:
            folders.append(folder)
    if int(os.environ.get("RANK", "0")) != 0:
        return []
    return [prepare_output(folder) for folder in folders]


def _interrupted_message(exc: KeyboardInterrupt, paths: Sequence[Path], names: Sequence[str | None],
                         done: Sequence[InputReport], dest: Destinations) -> str:
    """One line: what was written, and what the interrupted input's outputs hold."""
    what = signal_name(exc)
    current = len(done)
    if current >= len(paths):
        return f"stopped by {what} after the last input; every result was written"
    name = names[current]
    kept = [dest.folder(name), dest.video(name)]
    where = " and ".join(str(p) for p in kept if p is not None)
    previous = f"{where} keeps what it held before (nothing of this run)" if where else "nothing was written for it"
    written = sum(r.status == "ok" for r in done)
    before = f"the results of {written} earlier input{'s' if written != 1 else ''} are written; " if done else ""
    return (f"stopped by {what} during {paths[current]} (input {current + 1} of {len(paths)}): {before}{previous}")


def _predict_distributed(build: Callable[[Any], Predictor], paths: list[Path], names: list[str | None],
                         dest: Destinations, device: str | None, on_result: ResultCallback | None,
                         on_failure: FailureCallback | None) -> BatchOutcome:
    """Each rank its share; the reports gathered, in input order, on every rank (rank 0 writes the index)."""
    import torch.distributed as dist

    from ..engine.distributed import cleanup, init_distributed

    info = init_distributed(device or "auto")
    try:
        reports = run_shard(build(info.device), paths, names, dest, on_result=on_result, on_failure=on_failure,
                            rank=info.rank, world=info.world_size)
        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, reports)
        order = {str(p): i for i, p in enumerate(paths)}
        merged = sorted((r for part in gathered for r in part), key=lambda r: order[r.input])
        return BatchOutcome(merged, is_main=info.is_main)
    finally:
        cleanup()
