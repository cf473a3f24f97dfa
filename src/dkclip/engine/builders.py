"""Builders shared by training and the applications on top of the engine: the model from a run config, the
datasets and loaders of a run, and the autocast policy.

The model's own config is the single source of preprocessing: datasets take the input size, normalisation, T
and the short-clip policy from ``model.config``; the run config contributes only where the data is (root,
lists, rewrites, format) and how it is read (workers, batch size, bad-sample policy).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from ..config import DKClipConfig
from ..constants import NORMALIZATIONS
from ..data import build_dataset, build_loader
from ..data.dataset import ClipDataset, ClipLoader
from ..data.errors import DataError
from ..errors import ConfigError
from ..factory import create_model
from ..model.dkclip import DKClip
from .distributed import DistInfo
from .run_config import TrainConfig
from .samplers import ShardSampler

logger = logging.getLogger(__name__)

# Keys that were DKClipConfig fields and are run-config keys now.
_MOVED_OPTIONS = {"use_consistency": "loss.use_consistency", "freeze_patch_embed": "optim.freeze_patch_embed",
                  "grad_checkpointing": "run.grad_checkpointing"}


def resolve_amp(mode: str, device: torch.device) -> tuple[torch.dtype | None, bool]:
    """(autocast dtype or None, whether a GradScaler is needed)."""
    if mode == "fp32" or (mode == "auto" and device.type != "cuda"):
        return None, False
    if mode == "fp16":
        return torch.float16, device.type == "cuda"
    if mode == "bf16" or (device.type == "cuda" and torch.cuda.is_bf16_supported()):
        return torch.bfloat16, False
    return torch.float16, True


def build_model(cfg: TrainConfig) -> DKClip:
    """The run's model: ``model.*`` picks the variant, weights and prompts; ``data.*`` sets the preprocessing the
    model carries (T, eval T, short-clip policy, normalisation); training switches are applied at runtime."""
    options = dict(cfg.model.options)
    for key, moved in _MOVED_OPTIONS.items():
        if key in options:
            raise ConfigError(f"model.options.{key} is a training setting now: set {moved} instead")
    if "freeze_msim" in options:
        raise ConfigError("model.options.freeze_msim is a training setting: set optim.freeze_msim instead")
    d = cfg.data
    options.setdefault("num_frames", d.num_frames)
    options.setdefault("eval_num_frames", d.eval_num_frames)
    options.setdefault("short_clip", d.short_clip)
    if d.normalize is not None:
        mean, std = NORMALIZATIONS[d.normalize]
        options.setdefault("image_mean", mean)
        options.setdefault("image_std", std)
    try:
        model = create_model(cfg.model.name, pretrained=cfg.model.pretrained, clip_weights=cfg.model.clip_weights,
                             prompts=cfg.model.prompts, trust_torchscript=cfg.model.trust_torchscript, **options)
    except ConfigError as exc:
        raise ConfigError(f"model: {exc}") from None
    except TypeError as exc:  # a DKClipConfig field of the wrong type
        raise ConfigError(f"model.options: {exc}") from None
    model.set_grad_checkpointing(cfg.run.grad_checkpointing)
    model.freeze_patch_embed(cfg.optim.freeze_patch_embed)
    if cfg.optim.freeze_msim:  # validate() refused it for a model without an MSIM
        model.freeze_msim(True)
    return model


def clip_weights_file(cfg: TrainConfig) -> Path | None:
    """The CLIP weights file a run starts from (a pretrained tag's shipped file, or ``model.clip_weights``)."""
    from ..pretrained import default_tag, get_pretrained_cfg

    tag = cfg.model.pretrained
    if cfg.model.clip_weights == "default":
        tag = default_tag(cfg.model.name)
    elif cfg.model.clip_weights:
        return Path(cfg.model.clip_weights)
    return get_pretrained_cfg(cfg.model.name, tag).path if tag else None


def class_names_of(model: DKClip) -> list[str]:
    return model.config.class_labels


def split_dataset(cfg: TrainConfig, list_file: str | None, mode: Literal["train", "test"], model_cfg: DKClipConfig,
                  key: str, num_frames: int | None = None, **extra: Any) -> ClipDataset:
    """A dataset for one list file: preprocessing from ``model_cfg``, data location and policy from ``cfg``.

    ``key`` names where the list came from (``data.train_list``, ``--list``) for error messages. ``num_frames``
    defaults to the model's training T (train) or test T (test).
    """
    if not list_file:
        raise ConfigError(f"{key} is not set")
    if not Path(list_file).is_file():
        what = "is a folder, not a list file" if Path(list_file).is_dir() else "not found"
        raise ConfigError(f"{key}: list file {what}: {list_file}")
    d = cfg.data
    frames = num_frames or (model_cfg.num_frames if mode == "train" else model_cfg.test_num_frames)
    dataset = build_dataset(list_file, mode, num_frames=frames, image_size=model_cfg.image_size, root=d.root,
                            rewrites=d.rewrites, fmt=d.list_format, num_classes=model_cfg.num_classes,
                            normalize=model_cfg.normalization, short_clip=model_cfg.short_clip,
                            on_error=d.on_error, min_listed_frames=d.min_listed_frames, seed=cfg.run.seed, **extra)
    if len(dataset) == 0:
        dropped = f" ({len(dataset.skipped)} skipped for bad labels)" if dataset.skipped else ""
        raise DataError(f"{list_file}: the list has no usable clips{dropped} ({key})")
    return dataset


def stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices (train, val): per class, a fraction of the clips (at least one where a class has two)."""
    rng = np.random.default_rng(seed)
    train, val = [], []
    by_class: dict[int, list[int]] = {}
    for i, label in enumerate(labels):
        by_class.setdefault(label, []).append(i)
    for members in by_class.values():
        members = list(rng.permutation(members))
        n_val = round(fraction * len(members))
        if n_val == 0 and fraction > 0 and len(members) >= 2:
            n_val = 1
        val += members[:n_val]
        train += members[n_val:]
    return sorted(train), sorted(val)


def build_datasets(cfg: TrainConfig, model: DKClip) -> tuple[ClipDataset, ClipDataset | None, ClipDataset | None]:
    """(train, validation or None, test or None) datasets of a run."""
    d, mc = cfg.data, model.config
    eval_extra = {"num_clips": cfg.eval.num_clips, "num_crops": cfg.eval.num_crops}
    a = cfg.augment
    train = split_dataset(cfg, d.train_list, "train", mc, "data.train_list", scales=tuple(a.crop_scales),
                          flip_p=a.flip_p, jitter_p=a.color_jitter_p, gray_p=a.grayscale_p)
    val = None
    if d.val_list:
        val = split_dataset(cfg, d.val_list, "test", mc, "data.val_list", **eval_extra)
    elif cfg.eval.select == "val":
        if d.val_fraction <= 0:
            raise ConfigError("eval.select=val needs data.val_list or data.val_fraction > 0")
        # The validation split is carved from the training list, never from the test list.
        val = split_dataset(cfg, d.train_list, "test", mc, "data.train_list", **eval_extra)
        train_idx, val_idx = stratified_split([r.label for r in train.records], d.val_fraction, cfg.run.seed)
        records = train.records
        train.records = [records[i] for i in train_idx]
        val.records = [records[i] for i in val_idx]
    test = split_dataset(cfg, d.test_list, "test", mc, "data.test_list", **eval_extra) if d.test_list else None
    if cfg.eval.select == "test-max" and test is None:
        raise ConfigError("eval.select=test-max needs data.test_list")
    return train, val, test


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask, as under SLURM or taskset; else the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_warned_workers: set[tuple[int, int]] = set()


def loader_workers(requested: int) -> int:
    """``data.workers``, clamped to the CPUs available: more loader processes than CPUs only compete with each
    other and the main process (and multiply memory). Warned once per (requested, available)."""
    cpus = available_cpus()
    if requested <= cpus:
        return requested
    if (requested, cpus) not in _warned_workers:
        _warned_workers.add((requested, cpus))
        logger.warning("data.workers=%d but this process can use %d CPUs: using %d loader workers", requested, cpus,
                       cpus)
    return cpus


def eval_loader(dataset: ClipDataset, cfg: TrainConfig, info: DistInfo) -> ClipLoader:
    return build_loader(dataset, cfg.data.eval_batch_size, num_workers=loader_workers(cfg.data.workers),
                        sampler=ShardSampler(len(dataset), info.rank, info.world_size), drop_last=False,
                        seed=cfg.run.seed, pin_memory=info.device.type == "cuda")
