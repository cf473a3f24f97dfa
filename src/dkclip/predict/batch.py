"""Predicting over many inputs and writing what was found: the library behind ``dkclip predict`` (and the app).

:func:`predict_inputs` expands what the user named (videos, frame folders, images, directories, list files), runs
a :class:`~dkclip.predict.predictor.Predictor` over each (each rank its share under torchrun, the reports gathered
on rank 0), writes each result with :func:`save_result` (one sub-folder per input when there are several) and,
for a batch, ``index.csv``. An input that cannot be read is reported by name and the rest go on; with a single
input its error is raised.
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

if TYPE_CHECKING:
    from .predictor import PredictionResult, Predictor

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm")
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


def save_result(result: PredictionResult, out: str | os.PathLike[str] | None = None, *, plot: bool = True,
                render: str | os.PathLike[str] | None = None) -> list[Path]:
    """Everything a prediction writes: the tables and pictures in ``out`` (:meth:`PredictionResult.save`) and
    the annotated video at ``render``."""
    written = result.save(out, plot=plot) if out is not None else []
    if render is not None:
        written.append(result.render(render))
    return written


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
    if several and render is not None and Path(render).suffix.lower() in VIDEO_SUFFIXES:
        raise UsageError(f"--render {render}: with {len(paths)} inputs, --render names a folder")
    return paths, (list(output_names(paths)) if several else [None])


def run_shard(predictor: Predictor, paths: Sequence[Path], names: Sequence[str | None], *,
              out: str | os.PathLike[str] | None = None, plot: bool = True,
              render: str | os.PathLike[str] | None = None, on_result: ResultCallback | None = None,
              on_failure: FailureCallback | None = None, rank: int = 0, world: int = 1) -> list[InputReport]:
    """Predict this rank's share of ``paths`` (every ``world``-th from ``rank``) and write each result."""
    mine = list(range(rank, len(paths), world))
    reports = []
    started = time.perf_counter()
    outcomes = predictor.predict_many(paths[i] for i in mine)
    for i, (path, outcome) in zip(mine, outcomes, strict=True):
        name = names[i]
        report = InputReport(input=str(path), output=name or "")
        try:
            if isinstance(outcome, DKClipError | OSError):
                raise outcome
            save_result(outcome, _join(out, name), plot=plot,
                        render=_join(render, f"{name}.mp4" if name else None))
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


def _join(folder: str | os.PathLike[str] | None, name: str | None) -> Path | None:
    if folder is None:
        return None
    return Path(folder) / name if name else Path(folder)


def write_index(out: str | os.PathLike[str], reports: Sequence[InputReport]) -> Path:
    """``index.csv`` of a batch: one row per input, in the order given."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=list(InputReport.__dataclass_fields__))
    writer.writeheader()
    writer.writerows(r.row() for r in reports)
    return atomic_write_text(Path(out) / INDEX_NAME, text.getvalue())


def predict_inputs(build: Callable[[Any], Predictor], inputs: Sequence[str | os.PathLike[str]], *,
                   out: str | os.PathLike[str] | None = None, plot: bool = True,
                   render: str | os.PathLike[str] | None = None, device: str | None = None,
                   on_result: ResultCallback | None = None, on_failure: FailureCallback | None = None
                   ) -> BatchOutcome:
    """Predict over every input the user named and write the results (module docstring).

    ``build(device)`` makes the predictor, on ``device`` (None: the predictor's default; under torchrun, this
    rank's device). ``on_result(result, seconds)`` and ``on_failure(report)`` are called per input as it
    finishes (on every rank).
    """
    paths, names = resolve_inputs(inputs, render)
    shard = {"out": out, "plot": plot, "render": render, "on_result": on_result, "on_failure": on_failure}
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        outcome = _predict_distributed(build, paths, names, device, shard)
    else:
        outcome = BatchOutcome(run_shard(build(device), paths, names, **shard))
    if outcome.is_main and out is not None and len(paths) > 1:
        write_index(out, outcome.reports)
    return outcome


def _predict_distributed(build: Callable[[Any], Predictor], paths: list[Path], names: list[str | None],
                         device: str | None, shard: dict[str, Any]) -> BatchOutcome:
    """Each rank its share; the reports gathered, in input order, on every rank (rank 0 writes the index)."""
    import torch.distributed as dist

    from ..engine.distributed import cleanup, init_distributed

    info = init_distributed(device or "auto")
    try:
        reports = run_shard(build(info.device), paths, names, rank=info.rank, world=info.world_size, **shard)
        gathered: list[Any] = [None] * info.world_size
        dist.all_gather_object(gathered, reports)
        order = {str(p): i for i, p in enumerate(paths)}
        merged = sorted((r for part in gathered for r in part), key=lambda r: order[r.input])
        return BatchOutcome(merged, is_main=info.is_main)
    finally:
        cleanup()
