"""The per-iteration warm-up + cosine schedule of docs/method.md §3.1, and parameter-group learning rates."""

from __future__ import annotations

import math

import pytest
import torch

import dkclip
from dkclip.engine.schedule import WarmupCosineSchedule, lr_factor


def test_schedule_values() -> None:
    total, warmup = 50 * 100, 5 * 100
    assert lr_factor(0, total, warmup, 0.01) == 0.0
    assert lr_factor(250, total, warmup, 0.01) == pytest.approx(0.5)
    # The cosine is not shifted by the warm-up: at its end the LR is ~0.976 x base (docs/method.md §3.1).
    end_of_warmup = lr_factor(warmup, total, warmup, 0.01)
    assert end_of_warmup == pytest.approx(0.01 + 0.5 * 0.99 * (1 + math.cos(math.pi * 0.1)))
    assert end_of_warmup == pytest.approx(0.9758, abs=1e-4)
    assert lr_factor(total, total, warmup, 0.01) == pytest.approx(0.01)


def test_param_group_lrs_follow_the_schedule() -> None:
    model = dkclip.create_model("dkclip-tiny")
    opt = torch.optim.AdamW(model.param_groups(2e-6, 1e-3), lr=2e-6)
    sched = WarmupCosineSchedule(opt, total_steps=100, warmup_steps=10, min_ratio=0.01)
    base = {g["name"]: g["initial_lr"] for g in opt.param_groups}
    assert base["clip_decay"] == 2e-6 and base["new_decay"] == pytest.approx(2e-5)
    for _ in range(10):
        sched.step()
    for group in opt.param_groups:
        assert group["lr"] == pytest.approx(group["initial_lr"] * lr_factor(10, 100, 10, 0.01))
    state = sched.state_dict()
    again = WarmupCosineSchedule(opt, 100, 10, 0.01)
    again.load_state_dict(state)
    assert again.step_count == 10
