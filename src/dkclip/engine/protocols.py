"""Evaluation protocols: named overlays of run-config keys (``dkclip train CONFIG --protocol NAME``).

- ``paper``: as the paper reports (docs/method.md §5, D14): the epoch with the best global WAR **on the test
  split**, one view (one clip, centre crop). Optimistic: the test split chooses the epoch.
- ``honest``: the same evaluation, but the epoch is chosen by global WAR on a validation split carved from the
  training list (``data.val_fraction``, or ``data.val_list``), and the last epoch is reported beside it.

A protocol sets its keys after the config file and before ``--set``; it records itself as ``eval.protocol``, and a
config whose keys contradict its ``eval.protocol`` is an error (so a run labelled ``paper`` was run as the paper
reports). Only the standard library is imported here: ``dkclip train --help`` lists the protocols without torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError


@dataclass(frozen=True)
class Protocol:
    name: str
    summary: str
    settings: dict[str, Any] = field(default_factory=dict)  # dotted run-config key -> value

    def overrides(self) -> list[str]:
        """The settings as ``--set`` strings (``eval.protocol`` first)."""
        return [f"eval.protocol={self.name}", *(f"{k}={_yaml_scalar(v)}" for k, v in self.settings.items())]


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


_ONE_VIEW = {"eval.metric": "war", "eval.head": "global", "eval.num_clips": 1, "eval.num_crops": 1}

PROTOCOLS: dict[str, Protocol] = {
    "paper": Protocol(
        "paper", "as the paper reports: best epoch by global WAR on the TEST split, one view (optimistic)",
        {"eval.select": "test-max", **_ONE_VIEW}),
    "honest": Protocol(
        "honest", "best epoch by global WAR on a validation split from the training list, one view; the last "
                  "epoch is reported too",
        {"eval.select": "val", **_ONE_VIEW, "eval.report_last": True}),
}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name]
    except KeyError:
        raise ConfigError(f"unknown protocol {name!r}; available: {', '.join(PROTOCOLS)}") from None


def _value(cfg: Any, dotted: str) -> Any:
    obj = cfg
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def check_protocol(cfg: Any) -> None:
    """Raise :class:`ConfigError` when a key of the config's ``eval.protocol`` has another value."""
    name = cfg.eval.protocol
    if name is None:
        return
    protocol = get_protocol(name)
    for dotted, expected in protocol.settings.items():
        actual = _value(cfg, dotted)
        if actual != expected:
            raise ConfigError(f"{dotted}={actual!r} contradicts eval.protocol={name} (which sets {dotted}="
                              f"{expected!r}); drop the override or the protocol")
