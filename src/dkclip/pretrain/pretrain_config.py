"""The settings of ``dkclip pretrain`` (one flag each), in a module that imports nothing heavy, so that
``dkclip pretrain --help`` shows them without loading torch."""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..errors import ConfigError


@dataclass
class PretrainConfig:
    model: str = "dkclip-tiny"
    out_dir: str = "runs/pretrain"
    seed: int = 0
    steps: int = 4000
    clips_per_batch: int = 16
    frames_per_clip: int = 8
    lr: float = 5e-4
    weight_decay: float = 0.1
    warmup_steps: int = 200
    min_lr_ratio: float = 0.01
    workers: int = 1
    log_every: int = 20
    save_every: int = 200
    eval_every: int = 500
    threads: int = 0  # torch threads in the training process (0: default)
    p_emotion: float = 0.25  # share of single-class frames whose caption also names the emotion
    init_weights: str = ""  # start from these CLIP weights (a warm start) instead of random init

    def __post_init__(self) -> None:
        """Out-of-range settings are refused here, naming the flag (they were tracebacks from deep inside torch:
        a zero division for log_every=0, 'Invalid learning rate: nan', ...)."""
        at_least_one = ("steps", "clips_per_batch", "frames_per_clip", "log_every", "save_every", "eval_every")
        for name in at_least_one:
            _check(name, getattr(self, name), getattr(self, name) >= 1, "must be at least 1")
        for name in ("workers", "threads", "warmup_steps"):
            _check(name, getattr(self, name), getattr(self, name) >= 0, "must not be negative")
        for name in ("lr", "weight_decay"):  # lr 0: the weights stay as they are (a check of the warm start)
            value = getattr(self, name)
            _check(name, value, 0 <= value < math.inf, "must be a number >= 0")
        for name in ("min_lr_ratio", "p_emotion"):
            value = getattr(self, name)
            _check(name, value, 0 <= value <= 1, "must lie in [0, 1]")


def _check(name: str, value: object, ok: bool, rule: str) -> None:
    if not ok:  # nan fails every comparison, so it lands here too
        raise ConfigError(f"{name} (--{name.replace('_', '-')}) {rule}, got {value}")
