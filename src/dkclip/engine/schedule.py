"""Per-iteration learning-rate schedule of the paper's recipe (docs/method.md §3.1): linear warm-up from 0, then cosine
to ``min_lr_ratio`` × base over the whole run.

The cosine is *not* shifted by the warm-up (timm's ``CosineLRScheduler`` default, which the authors use):
after warm-up lr(t) = min + ½(base − min)(1 + cos(π t / T_total)), so the LR steps down from base to ≈0.976 ×
base at the end of a 5-of-50-epoch warm-up. ``t`` counts optimiser steps, not loader iterations.
"""

from __future__ import annotations

import math

import torch


def lr_factor(step: int, total_steps: int, warmup_steps: int, min_ratio: float) -> float:
    """The LR at optimiser step ``step`` as a fraction of the base LR."""
    if total_steps <= 0:
        raise ValueError("total_steps must be positive")
    if step < warmup_steps:
        return step / warmup_steps
    progress = min(step, total_steps) / total_steps
    return min_ratio + 0.5 * (1.0 - min_ratio) * (1.0 + math.cos(math.pi * progress))


class WarmupCosineSchedule:
    """Sets every param group's LR to ``group["initial_lr"] × lr_factor(step)``; step() once per optimiser step."""

    def __init__(self, optimizer: torch.optim.Optimizer, total_steps: int, warmup_steps: int,
                 min_ratio: float = 0.01) -> None:
        self.optimizer = optimizer
        self.total_steps = total_steps
        self.warmup_steps = warmup_steps
        self.min_ratio = min_ratio
        self.step_count = 0
        for group in optimizer.param_groups:
            group.setdefault("initial_lr", group["lr"])
        self._apply()

    def _apply(self) -> None:
        factor = lr_factor(self.step_count, self.total_steps, self.warmup_steps, self.min_ratio)
        for group in self.optimizer.param_groups:
            group["lr"] = group["initial_lr"] * factor

    def step(self) -> None:
        self.step_count += 1
        self._apply()

    def state_dict(self) -> dict[str, int | float]:
        return {"step_count": self.step_count, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "min_ratio": self.min_ratio}

    def load_state_dict(self, state: dict[str, int | float]) -> None:
        self.step_count = int(state["step_count"])
        self._apply()
