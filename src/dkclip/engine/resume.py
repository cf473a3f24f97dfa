"""One resume policy for ``dkclip train --resume`` and ``dkclip pretrain``.

A resumed run is an exact continuation, so a setting that would change its result cannot change on resume:
such a request is refused by name (with the saved and the requested value). Run-control settings (how long to
run, progress display, workers, logging cadence, device) may change: they are applied and logged. Nothing is
silently ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import ConfigError

logger = logging.getLogger(__name__)


def flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}} -> {"a.b": 1}`` (lists and other values are leaves)."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = value
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
        return float(a) == float(b)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def check_resume(saved: Mapping[str, Any], requested: Mapping[str, Any], run_control: Iterable[str],
                 where: str) -> dict[str, tuple[Any, Any]]:
    """Compare a run's saved settings with the requested ones.

    Returns the run-control changes ``{key: (saved, requested)}`` (logged, to be applied); raises
    :class:`ConfigError` naming every other changed key.
    """
    control = set(run_control)
    old, new = flatten(saved), flatten(requested)
    changed = {k: (old.get(k), new.get(k)) for k in sorted(set(old) | set(new)) if not _same(old.get(k), new.get(k))}
    refused = {k: v for k, v in changed.items() if k not in control}
    if refused:
        listed = "; ".join(f"{k}: saved {a!r}, requested {b!r}" for k, (a, b) in refused.items())
        raise ConfigError(f"{where}: resuming cannot change settings that change the result ({listed})",
                          hint=f"resume without them, or start a new run; may change on resume: {sorted(control)}")
    applied = {k: v for k, v in changed.items() if k in control}
    for key, (a, b) in applied.items():
        logger.info("resume: %s %r -> %r", key, a, b)
    return applied
