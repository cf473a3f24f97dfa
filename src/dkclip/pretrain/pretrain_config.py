"""The settings of ``dkclip pretrain`` (one flag each), in a module that imports nothing heavy, so that
``dkclip pretrain --help`` shows them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass


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
