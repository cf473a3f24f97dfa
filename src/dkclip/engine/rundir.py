"""Run directories: where a new run goes (``run.output_dir/run.name``), its saved config, and the run to resume.

Paths in the saved ``config.yaml`` are absolute (resolved against the directory the run was started from), so
``dkclip evaluate RUN`` and ``dkclip train --resume RUN`` work from any current directory.
"""

from __future__ import annotations

import copy
import os
from datetime import datetime
from pathlib import Path

from ..errors import ConfigError, UsageError
from ..fileio import atomic_write_text
from .distributed import DistInfo
from .run_config import TrainConfig
from .run_name import check_run_name


def _absolute(path: str | None) -> str | None:
    if not path:
        return path
    if "{fold}" in path:  # a cross-validation template: resolve the part before the placeholder
        return os.path.abspath(path) if not os.path.isabs(path) else path
    return str(Path(path).expanduser().resolve()) if not os.path.isabs(path) else path


def with_absolute_paths(cfg: TrainConfig) -> TrainConfig:
    """A copy of ``cfg`` with every file path absolute (data root, lists, CLIP weights, prompt CSV, output dir)."""
    cfg = copy.deepcopy(cfg)
    d = cfg.data
    d.root = _absolute(d.root)
    d.train_list, d.val_list, d.test_list = (_absolute(d.train_list), _absolute(d.val_list),
                                             _absolute(d.test_list))
    if cfg.model.clip_weights and cfg.model.clip_weights != "default":
        cfg.model.clip_weights = _absolute(cfg.model.clip_weights)
    if cfg.model.prompts.endswith(".csv"):
        cfg.model.prompts = _absolute(cfg.model.prompts) or cfg.model.prompts
    cfg.run.output_dir = _absolute(cfg.run.output_dir) or cfg.run.output_dir
    return cfg


def started_from(cfg: TrainConfig, run_dir: Path) -> Path | None:
    """The directory a run was started from: ``cwd`` in its ``provenance.json``, else (runs older than that
    record) inferred from a relative ``run.output_dir``: a run in ``X/runs/name`` with ``output_dir: runs`` was
    started in ``X``."""
    import json

    record = run_dir / "provenance.json"
    try:
        cwd = json.loads(record.read_text()).get("cwd") if record.is_file() else None
    except (OSError, ValueError):
        cwd = None
    if cwd:
        return Path(cwd)
    out = Path(cfg.run.output_dir)
    parent = run_dir.resolve().parent
    if out.is_absolute() or ".." in out.parts or parent.parts[-len(out.parts):] != out.parts:
        return None
    return parent.parents[len(out.parts) - 1] if len(out.parts) else parent


def rebase_relative_paths(cfg: TrainConfig, run_dir: Path) -> list[str]:
    """Runs saved before paths were made absolute keep them relative to the directory they were started from
    (:func:`started_from`). Each relative file path of ``cfg`` that does not exist from here but does from there
    is made absolute there, in place; returns ``"key: old -> new"`` for each one moved."""
    started = started_from(cfg, run_dir)
    if started is None or started.resolve() == Path.cwd().resolve():
        return []
    moved = []
    fields = [(cfg.data, "root"), (cfg.data, "train_list"), (cfg.data, "val_list"), (cfg.data, "test_list"),
              (cfg.model, "clip_weights"), (cfg.model, "prompts")]
    for owner, name in fields:
        value = getattr(owner, name)
        if not value or os.path.isabs(value) or value == "default" or "{fold}" in value or Path(value).exists():
            continue
        if name == "prompts" and not value.endswith(".csv"):
            continue  # a prompt set's name, not a file
        there = started / value
        if there.exists():
            setattr(owner, name, str(there.resolve()))
            section = "data" if owner is cfg.data else "model"
            moved.append(f"{section}.{name}: {value} -> {there.resolve()}")
    return moved


def planned_run_dir(cfg: TrainConfig, config_name: str) -> Path:
    name = cfg.run.name or f"{config_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    check_run_name(name)
    return Path(cfg.run.output_dir) / name


def prepare_run_dir(cfg: TrainConfig, run_dir: Path, info: DistInfo) -> None:
    """Refuse a directory that already holds a run; write the resolved config. Call with the lock held."""
    if not info.is_main:
        return
    if (run_dir / "last.pt").exists() or (run_dir / "results.json").exists():
        raise ConfigError(f"run.name: {run_dir} already holds a run",
                          hint=f"continue it with --resume {run_dir}, or choose another run.name")
    try:
        atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
    except OSError as exc:
        raise OSError(f"cannot write to the run directory {run_dir}: {exc}") from exc


def resolve_resume(path: str | Path) -> tuple[Path, Path]:
    """(run dir, checkpoint), absolute, from a run directory or a ``last.pt`` path."""
    path = Path(path).expanduser().resolve()
    ckpt = path / "last.pt" if path.is_dir() else path
    if not ckpt.is_file():
        raise UsageError(f"--resume: no checkpoint to resume at {ckpt}")
    return ckpt.parent, ckpt
