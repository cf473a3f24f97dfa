"""The rule for ``run.name``, on its own so that both the run config's checks (:mod:`.run_config`) and the run
directory (:mod:`.rundir`, which needs the config type) use it without importing each other."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError


def check_run_name(name: str) -> None:
    """``run.name`` must name a directory inside ``run.output_dir``."""
    parts = Path(name).parts
    if not name or Path(name).is_absolute() or ".." in parts or len(parts) != 1:
        raise ConfigError(f"run.name {name!r} must be a plain directory name inside run.output_dir "
                          "(no '/', '..' or absolute path)")
