"""Run directories: creating a new one (refusing to overwrite a run) and finding the one to resume."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from ..errors import ConfigError, UsageError
from ..fileio import atomic_write_text
from .config import TrainConfig
from .distributed import DistInfo, barrier


def prepare_run_dir(cfg: TrainConfig, config_name: str, info: DistInfo) -> Path:
    name = cfg.run.name or f"{config_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.run.output_dir) / name
    if info.is_main:
        if (run_dir / "last.pt").exists():
            raise ConfigError(f"run.name: {run_dir} already holds a run",
                              hint=f"continue it with --resume {run_dir}, or choose another run.name")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())
        except OSError as exc:
            raise OSError(f"cannot write to the run directory {run_dir}: {exc}") from exc
    barrier(info)
    return run_dir


def resolve_resume(path: str | Path) -> tuple[Path, Path]:
    """(run dir, checkpoint) from a run directory or a ``last.pt`` path."""
    path = Path(path)
    ckpt = path / "last.pt" if path.is_dir() else path
    if not ckpt.is_file():
        raise UsageError(f"--resume: no checkpoint to resume at {ckpt}")
    return ckpt.parent, ckpt
