"""Checks of the run config's values alone, before anything is built or written: ranges, names, frame counts
against the model's snippets, the protocol's keys. (Checks that need the data are in
:mod:`dkclip.engine.validation`.)"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .run_name import check_run_name

if TYPE_CHECKING:
    from .run_config import AugmentSection, TrainConfig


def validate(cfg: TrainConfig) -> None:
    """Every value that can be checked without the data, before anything is built or written."""
    s = cfg.schedule
    if s.epochs < 1 or s.batch_size < 1 or s.effective_batch < 1:
        raise ConfigError("schedule.epochs, schedule.batch_size and schedule.effective_batch must be >= 1")
    if not 0 <= s.warmup_epochs <= s.epochs:
        raise ConfigError(f"schedule.warmup_epochs must lie in [0, epochs], got {s.warmup_epochs}")
    if not 0 <= s.min_lr_ratio <= 1:
        raise ConfigError(f"schedule.min_lr_ratio must lie in [0, 1], got {s.min_lr_ratio}")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(f"data.val_fraction must lie in [0, 1), got {cfg.data.val_fraction}")
    if cfg.loss.active_epochs is not None and len(cfg.loss.active_epochs) != 2:
        raise ConfigError(f"loss.active_epochs must be [start, stop], got {cfg.loss.active_epochs}")
    if cfg.eval.every < 1:
        raise ConfigError("eval.every must be >= 1")
    if cfg.eval.num_clips < 1:
        raise ConfigError(f"eval.num_clips (--clips) must be >= 1, got {cfg.eval.num_clips}")
    o = cfg.optim
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"optim.betas must be two values in [0, 1), got {o.betas}")
    for key, value in (("optim.lr", o.lr), ("optim.new_module_lr_mult", o.new_module_lr_mult), ("optim.eps", o.eps)):
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{key} must be a positive number, got {value}")
    if o.lr > 1:
        raise ConfigError(f"optim.lr={o.lr} is not a learning rate for AdamW (the paper's is 2e-6)")
    if o.weight_decay < 0 or not math.isfinite(o.weight_decay):
        raise ConfigError(f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    if o.grad_clip is not None and not o.grad_clip > 0:
        raise ConfigError(f"optim.grad_clip must be > 0 (or null), got {o.grad_clip}")
    if o.freeze_msim and cfg.model.options.get("temporal") == "avgpool":
        raise ConfigError("optim.freeze_msim: model.options.temporal=avgpool has no MSIM to freeze")
    d = cfg.data
    if d.workers < 0:
        raise ConfigError(f"data.workers must be >= 0, got {d.workers}")
    if d.eval_batch_size < 1 or d.num_frames < 1 or (d.eval_num_frames is not None and d.eval_num_frames < 1):
        raise ConfigError("data.eval_batch_size, data.num_frames and data.eval_num_frames must be >= 1")
    if not 0 <= cfg.loss.lam < math.inf:  # written so that nan fails too
        raise ConfigError(f"loss.lam must be >= 0, got {cfg.loss.lam}")
    _check_augment(cfg.augment)
    if cfg.run.log_every < 1:
        raise ConfigError(f"run.log_every must be >= 1, got {cfg.run.log_every}")
    if cfg.run.max_steps is not None and cfg.run.max_steps < 1:
        raise ConfigError(f"run.max_steps must be >= 1 (or null), got {cfg.run.max_steps}")
    if cfg.run.name is not None:
        check_run_name(cfg.run.name)
    _check_names(cfg)
    _check_frames(cfg)
    from .protocols import check_protocol

    check_protocol(cfg)


def _check_augment(a: AugmentSection) -> None:
    """Mixing and augmentation settings (a negative α silently disabled its branch, nan failed mid-epoch)."""
    for key in ("mixup_alpha", "fmix_alpha"):
        value = getattr(a, key)
        if not 0 <= value < math.inf:
            raise ConfigError(f"augment.{key} must be >= 0 (0: that branch off), got {value}")
    for key in ("switch_prob", "mix_prob", "flip_p", "color_jitter_p", "grayscale_p"):
        value = getattr(a, key)
        if not 0 <= value <= 1:
            raise ConfigError(f"augment.{key} is a probability: it must lie in [0, 1], got {value}")
    if not 0 <= a.label_smoothing < 1:
        raise ConfigError(f"augment.label_smoothing must lie in [0, 1), got {a.label_smoothing}")
    if not a.crop_scales or not all(0 < c <= 1 for c in a.crop_scales):
        raise ConfigError(f"augment.crop_scales must be fractions in (0, 1] of the short side, got {a.crop_scales}")


def _check_frames(cfg: TrainConfig) -> None:
    """T (training) and the eval T against the model's N snippets, named by their run-config keys (the model would
    refuse them too, but naming its own fields)."""
    from ..registry import get_model_config

    defaults, options = get_model_config(cfg.model.name), cfg.model.options
    n = options.get("num_snippets", defaults.num_snippets)
    temporal = options.get("temporal", defaults.temporal)
    where = "model.options.num_snippets" if "num_snippets" in options else f"{cfg.model.name}'s num_snippets"
    frames = {"data.num_frames": options.get("num_frames", cfg.data.num_frames),
              "data.eval_num_frames": options.get("eval_num_frames", cfg.data.eval_num_frames)}
    if not isinstance(n, int) or n < 1:
        return  # the model's own check names it
    for key, t in frames.items():
        if isinstance(t, int) and t % n:
            raise ConfigError(f"{key}={t} must be a multiple of the model's {n} snippets ({where}): each snippet "
                              "takes the same number of frames")
    train_t, eval_t = frames.values()
    if temporal in ("transformer", "cross_frame") and eval_t is not None and eval_t != train_t:
        raise ConfigError(f"data.eval_num_frames={eval_t} must equal data.num_frames={train_t} for "
                          f"temporal={temporal!r} (one position embedding per frame)")


def _check_names(cfg: TrainConfig) -> None:
    from ..prompts import PROMPT_SETS, list_prompt_sets
    from ..registry import list_models

    if cfg.model.name not in list_models():
        raise ConfigError(f"model.name: unknown model {cfg.model.name!r}; available: {list_models()}")
    prompts = cfg.model.prompts
    if prompts not in PROMPT_SETS and not prompts.endswith(".csv"):
        raise ConfigError(f"model.prompts: unknown prompt set {prompts!r}; use one of {list_prompt_sets()} or a "
                          "path to an id,name CSV")
    if prompts.endswith(".csv") and "{fold}" not in prompts and not Path(prompts).is_file():
        raise ConfigError(f"model.prompts: prompt file not found: {prompts}")
    if cfg.model.pretrained is not None and cfg.model.clip_weights is not None:
        raise ConfigError("model.pretrained and model.clip_weights are both set; choose one")
