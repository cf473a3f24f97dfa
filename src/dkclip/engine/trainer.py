"""``train``: the paper's recipe, single-process or under torchrun DDP, with exact resume.

The same function runs on CPU or GPU, one process or many (WORLD_SIZE > 1 → DDP). The effective batch
(clips per optimiser step) is kept across world sizes by gradient accumulation, and the training order is a
function of (seed, epoch) only (see :mod:`dkclip.engine.samplers`), so a run resumed from ``last.pt``, or run on
another number of processes, takes the same optimiser steps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from .. import create_model
from ..data import MixupFMix, build_dataset, build_loader, smooth_one_hot
from ..data.dataset import ClipDataset
from ..factory import save_model
from ..fileio import atomic_write_json, atomic_write_text
from ..losses import DKClipLoss
from ..model.dkclip import DKClip
from .checkpoint import FORMAT, VERSION, atomic_save, load_training_state, rng_state, set_rng_state
from .config import ConfigError, TrainConfig, load_config
from .distributed import DistInfo, barrier, cleanup, init_distributed
from .evaluation import Predictions, autocast_context, format_table, predict, summarize, write_report_files
from .samplers import ChunkedEpochSampler, ShardSampler
from .schedule import WarmupCosineSchedule

logger = logging.getLogger(__name__)


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite."""


@dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (or the next one when chunk == 0)
    chunk: int = 0  # loader iterations of `epoch` already consumed (a multiple of the accumulation steps)
    step: int = 0  # optimiser steps taken
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- set-up
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
    options = dict(cfg.model.options)
    options.setdefault("num_frames", cfg.data.num_frames)
    options.setdefault("grad_checkpointing", cfg.run.grad_checkpointing)
    if cfg.data.normalize == "clip":
        from ..config import CLIP_MEAN, CLIP_STD

        options.setdefault("image_mean", CLIP_MEAN)
        options.setdefault("image_std", CLIP_STD)
    try:
        return create_model(cfg.model.name, clip_weights=cfg.model.clip_weights, prompts=cfg.model.prompts,
                            **options)
    except (TypeError, ValueError) as exc:
        if "config keys" in str(exc):
            raise ConfigError(f"model.options: {exc}") from None
        raise


def class_names_of(model: DKClip) -> list[str]:
    cfg = model.config
    return list(cfg.class_names) or [f"class{i}" for i in range(cfg.num_classes)]


def split_dataset(cfg: TrainConfig, list_file: str, mode: str, num_frames: int, image_size: int, num_classes: int,
                  **extra: Any) -> ClipDataset:
    """A dataset for one list file with the run config's data settings (root, rewrites, format, policy)."""
    d = cfg.data
    return build_dataset(list_file, mode, num_frames=num_frames, image_size=image_size, root=d.root,
                         rewrites=d.rewrites, fmt=d.list_format, num_classes=num_classes, normalize=d.normalize,
                         short_clip=d.short_clip, on_error=d.on_error, min_listed_frames=d.min_listed_frames,
                         seed=cfg.run.seed, **extra)


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
    d = cfg.data
    if not d.train_list:
        raise ConfigError("data.train_list is not set")
    size, k = model.config.image_size, model.num_classes
    eval_frames = d.eval_num_frames or d.num_frames
    eval_extra = {"num_clips": cfg.eval.num_clips, "num_crops": cfg.eval.num_crops}
    a = cfg.augment
    train = split_dataset(cfg, d.train_list, "train", d.num_frames, size, k, scales=tuple(a.crop_scales),
                     flip_p=a.flip_p, jitter_p=a.color_jitter_p, gray_p=a.grayscale_p)
    val = None
    if d.val_list:
        val = split_dataset(cfg, d.val_list, "test", eval_frames, size, k, **eval_extra)
    elif cfg.eval.select == "val":
        if d.val_fraction <= 0:
            raise ConfigError("eval.select=val needs data.val_list or data.val_fraction > 0")
        # The validation split is carved from the training list, never from the test list.
        val = split_dataset(cfg, d.train_list, "test", eval_frames, size, k, **eval_extra)
        train_idx, val_idx = stratified_split([r.label for r in train.records], d.val_fraction, cfg.run.seed)
        records = train.records
        train.records = [records[i] for i in train_idx]
        val.records = [records[i] for i in val_idx]
    test = split_dataset(cfg, d.test_list, "test", eval_frames, size, k, **eval_extra) if d.test_list else None
    if cfg.eval.select == "test-max" and test is None:
        raise ConfigError("eval.select=test-max needs data.test_list")
    return train, val, test


def eval_loader(dataset: ClipDataset, cfg: TrainConfig, info: DistInfo) -> Any:
    return build_loader(dataset, cfg.data.eval_batch_size, num_workers=cfg.data.workers,
                        sampler=ShardSampler(len(dataset), info.rank, info.world_size), drop_last=False,
                        seed=cfg.run.seed, pin_memory=info.device.type == "cuda")


def prepare_run_dir(cfg: TrainConfig, config_name: str, info: DistInfo) -> Path:
    name = cfg.run.name or f"{config_name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}"
    run_dir = Path(cfg.run.output_dir) / name
    if info.is_main:
        if (run_dir / "last.pt").exists():
            raise FileExistsError(f"{run_dir} already holds a run; continue it with --resume {run_dir} "
                                  "or choose another run.name")
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
        raise FileNotFoundError(f"no checkpoint to resume at {ckpt}")
    return ckpt.parent, ckpt


# ----------------------------------------------------------------------------------------------- logging
class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                logger.info("tensorboard is not installed; logging to CSV/JSONL only")

    def step(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with (self.run_dir / "steps.jsonl").open("a") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"train/{key}", value, step)

    def epoch(self, history: list[dict[str, Any]]) -> None:
        """Rewrite the per-epoch JSONL and CSV from the full history (atomic, so resume never duplicates rows)."""
        if not self.enabled:
            return
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))
        rows = [",".join(keys)] + [",".join("" if h.get(k) is None else str(h[k]) for k in keys) for h in history]
        atomic_write_text(self.run_dir / "metrics.csv", "\n".join(rows) + "\n")
        if self.writer is not None and history:
            last = history[-1]
            for key, value in last.items():
                if key != "epoch" and isinstance(value, int | float):
                    self.writer.add_scalar(f"epoch/{key}", value, last["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


# ----------------------------------------------------------------------------------------------- the loop
class Trainer:
    def __init__(self, cfg: TrainConfig, info: DistInfo, run_dir: Path) -> None:
        self.cfg = cfg
        self.info = info
        self.run_dir = run_dir
        self.device = info.device
        self.amp_dtype, use_scaler = resolve_amp(cfg.run.amp, self.device)
        torch.manual_seed(cfg.run.seed)  # identical model init on every rank
        self.model = build_model(cfg).to(self.device)
        self.class_names = class_names_of(self.model)
        self.train_ds, self.val_ds, self.test_ds = build_datasets(cfg, self.model)
        s = cfg.schedule
        per_step = s.batch_size * info.world_size
        if s.effective_batch % per_step:
            raise ConfigError(f"schedule.effective_batch ({s.effective_batch}) must be a multiple of "
                              f"schedule.batch_size × world size ({s.batch_size} × {info.world_size})")
        self.accum = s.effective_batch // per_step
        self.sampler = ChunkedEpochSampler(len(self.train_ds), s.batch_size, self.accum, info.rank,
                                           info.world_size, seed=cfg.run.seed)
        self.train_loader = build_loader(self.train_ds, s.batch_size, num_workers=cfg.data.workers,
                                         sampler=self.sampler, drop_last=False, seed=cfg.run.seed,
                                         pin_memory=self.device.type == "cuda")
        self.steps_per_epoch = self.sampler.steps_per_epoch
        total = s.epochs * self.steps_per_epoch
        self.optimizer = torch.optim.AdamW(
            self.model.param_groups(cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.new_module_lr_mult),
            lr=cfg.optim.lr, betas=tuple(cfg.optim.betas), eps=cfg.optim.eps)
        self.schedule = WarmupCosineSchedule(self.optimizer, total, round(s.warmup_epochs * self.steps_per_epoch),
                                             cfg.schedule.min_lr_ratio)
        self.scaler = torch.amp.GradScaler(self.device.type) if use_scaler else None
        active = tuple(cfg.loss.active_epochs) if cfg.loss.active_epochs is not None else None
        self.loss_fn = DKClipLoss(cfg.loss.lam, cfg.loss.kl_mode, self.model.config.use_consistency, active)
        a = cfg.augment
        self.mixer = MixupFMix(self.model.num_classes, mixup_alpha=a.mixup_alpha, fmix_alpha=a.fmix_alpha,
                               switch_prob=a.switch_prob, smoothing=a.label_smoothing)
        self.state = TrainState()
        self.ddp: torch.nn.Module = self.model
        if info.enabled:
            self.ddp = DistributedDataParallel(self.model, device_ids=[self.device.index]
                                               if self.device.type == "cuda" else None)
        self.log = RunLogger(run_dir, info.is_main, cfg.run.tensorboard)

    # -------------------------------------------------------------------------- checkpoints
    def save_last(self) -> None:
        if not self.info.is_main:
            return
        st = self.state
        atomic_save({
            "format": FORMAT, "version": VERSION,
            "model": self.model.state_dict(),
            "model_config": self.model.config.to_json(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.schedule.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": st.epoch, "chunk": st.chunk, "step": st.step,
            "best_metric": st.best_metric, "best_epoch": st.best_epoch,
            "history": json.dumps(st.history),
            "rng": rng_state(),
            "config": json.dumps(self.cfg.to_dict()),
        }, self.run_dir / "last.pt")

    def load(self, path: Path) -> None:
        ckpt = load_training_state(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        self.state = TrainState(ckpt["epoch"], ckpt["chunk"], ckpt["step"], ckpt["best_metric"],
                                ckpt["best_epoch"], json.loads(ckpt["history"]))
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at epoch %d, optimiser step %d", path, self.state.epoch, self.state.step)

    def save_best(self, metrics: dict[str, Any]) -> None:
        if self.info.is_main:
            best = self.run_dir / "best"
            save_model(self.model, best)
            atomic_write_json(best / "metrics.json", metrics)

    # -------------------------------------------------------------------------- training
    def _targets(self, video: torch.Tensor, labels: torch.Tensor, epoch: int, chunk: int) -> tuple:
        # Per-batch randomness seeded by the global chunk: identical across resume and world sizes.
        self.mixer.rng = np.random.default_rng([self.cfg.run.seed, epoch, self.sampler.global_chunk(chunk)])
        if self.mixer.rng.random() >= self.cfg.augment.mix_prob:
            return video, smooth_one_hot(labels, self.model.num_classes, self.cfg.augment.label_smoothing)
        return self.mixer(video, labels)

    def _check_finite(self, loss: torch.Tensor, epoch: int, chunk: int) -> None:
        bad = torch.tensor([0.0 if torch.isfinite(loss) else 1.0], device=self.device)
        if self.info.enabled:
            torch.distributed.all_reduce(bad)
        if bad.item() > 0:
            raise TrainingDiverged(
                f"non-finite loss ({float(loss)}) at epoch {epoch}, iteration {chunk}, after optimiser step "
                f"{self.state.step}; stopping. The last good checkpoint is {self.run_dir / 'last.pt'}")

    def _optimizer_step(self) -> None:
        clip = self.cfg.optim.grad_clip
        if self.scaler is not None:
            if clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.schedule.step()
        self.state.step += 1

    def train_epoch(self, epoch: int) -> dict[str, float] | None:
        """One epoch (from ``state.chunk``). Returns mean losses, or None if max_steps stopped it early."""
        st, cfg = self.state, self.cfg
        self.sampler.set_epoch(epoch, st.chunk)
        self.train_ds.set_epoch(epoch)
        self.ddp.train()
        sums: dict[str, float] = {}
        count = 0
        started, clips = time.perf_counter(), 0
        progress = None
        if self.info.is_main and cfg.run.progress:
            from tqdm import tqdm

            progress = tqdm(total=self.sampler.chunks_per_epoch, initial=st.chunk, desc=f"epoch {epoch}",
                            dynamic_ncols=True, leave=False)
        chunk = st.chunk
        for batch in self.train_loader:
            micro = chunk % self.accum
            video = batch["video"].to(self.device, non_blocking=True)
            labels = batch["label"].to(self.device, non_blocking=True)
            video, target = self._targets(video, labels, epoch, chunk)
            last_micro = micro == self.accum - 1
            sync = contextlib.nullcontext() if (last_micro or not self.info.enabled) else self.ddp.no_sync()
            with sync:
                with autocast_context(self.device, self.amp_dtype):
                    out = self.ddp(video)
                loss = self.loss_fn(out, target, epoch)
                self._check_finite(loss.total, epoch, chunk)
                scaled = loss.total / self.accum
                (self.scaler.scale(scaled) if self.scaler is not None else scaled).backward()
            for key, value in loss.as_floats().items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            clips += video.shape[0] * self.info.world_size
            chunk += 1
            if progress is not None:
                progress.update(1)
            if not last_micro:
                continue
            self._optimizer_step()
            st.chunk = chunk
            lr = self.optimizer.param_groups[0]["lr"]
            if progress is not None:
                rate = clips / max(time.perf_counter() - started, 1e-9)
                progress.set_postfix(loss=f"{loss.total.item():.3f}", lr=f"{lr:.2e}", clips_s=f"{rate:.1f}")
            if st.step % cfg.run.log_every == 0:
                self.log.step(st.step, {**loss.as_floats(), "lr": lr})
            if cfg.run.max_steps is not None and st.step >= cfg.run.max_steps:
                break
        if progress is not None:
            progress.close()
        means = {f"train_{k}": v / max(count, 1) for k, v in sums.items()}
        if st.chunk < self.sampler.chunks_per_epoch:
            return None  # stopped by max_steps mid-epoch
        means["clips_per_s"] = clips / max(time.perf_counter() - started, 1e-9)
        return means

    def evaluate_split(self, dataset: ClipDataset, split: str) -> tuple[Predictions, dict[str, Any]]:
        preds = predict(self.ddp, eval_loader(dataset, self.cfg, self.info), self.info, self.amp_dtype)
        return preds, summarize(preds, self.class_names)

    def fit(self) -> TrainState:
        cfg, st = self.cfg, self.state
        select, metric, head = cfg.eval.select, cfg.eval.metric, cfg.eval.head
        try:
            while st.epoch < cfg.schedule.epochs:
                epoch = st.epoch
                means = self.train_epoch(epoch)
                if means is None:  # max_steps reached inside the epoch
                    self.save_last()
                    return st
                record: dict[str, Any] = {"epoch": epoch, "step": st.step, **means,
                                          "lr": self.optimizer.param_groups[0]["lr"]}
                is_last = epoch == cfg.schedule.epochs - 1
                if (epoch + 1) % cfg.eval.every == 0 or is_last:
                    split, ds = ("val", self.val_ds) if select == "val" else ("test", self.test_ds)
                    if select == "last" and ds is None:
                        split, ds = ("val", self.val_ds)
                    if ds is not None:
                        _, summary = self.evaluate_split(ds, split)
                        for h in ("global", "local", "fused"):
                            record[f"{split}_{h}_uar"] = summary[h]["uar"]
                            record[f"{split}_{h}_war"] = summary[h]["war"]
                        value = summary[head][metric]
                        if select != "last" and value > st.best_metric:
                            st.best_metric, st.best_epoch = value, epoch
                            self.save_best({"epoch": epoch, "split": split, "selected_by": f"{split} {metric}",
                                            **summary[head]})
                    if self.info.is_main:
                        logger.info("epoch %d: %s", epoch, {k: round(v, 4) if isinstance(v, float) else v
                                                             for k, v in record.items()})
                st.history.append(record)
                st.epoch, st.chunk = epoch + 1, 0
                self.log.epoch(st.history)
                self.save_last()
                if cfg.run.max_steps is not None and st.step >= cfg.run.max_steps:
                    return st
        except KeyboardInterrupt:
            # Keep what was done up to the last optimiser step; a partial accumulation is discarded.
            self.save_last()
            logger.warning("interrupted: saved %s (epoch %d, step %d); continue with --resume %s",
                           self.run_dir / "last.pt", st.epoch, st.step, self.run_dir)
            raise
        if select == "last":
            self.save_best({"epoch": st.epoch - 1, "selected_by": "last epoch"})
        return st

    def final_report(self) -> dict[str, Any] | None:
        """Evaluate the selected model on the test split; write results.json and the confusion matrices."""
        cfg = self.cfg
        if self.test_ds is None:
            logger.info("no data.test_list: skipping the final test evaluation")
            return None
        best = self.run_dir / "best" / "model.safetensors"
        barrier(self.info)
        if best.is_file():
            from safetensors.torch import load_file

            self.model.load_state_dict(load_file(str(best), device=str(self.device)))
        preds, summary = self.evaluate_split(self.test_ds, "test")
        label = {
            "val": f"selected on a validation split carved from the training list (best {cfg.eval.metric})",
            "last": "last epoch",
            "test-max": "test-max: epoch selected on the TEST split (the paper's protocol; optimistic)",
        }[cfg.eval.select]
        result = {
            "selection": cfg.eval.select, "selection_note": label, "selected_epoch": self.state.best_epoch
            if cfg.eval.select != "last" else self.state.epoch - 1,
            "reported_head": cfg.eval.head, "views": {"clips": cfg.eval.num_clips, "crops": cfg.eval.num_crops},
            "num_test_clips": int(preds.labels.size), "heads": summary,
            "data": self.train_loader.report.summary(),
        }
        if self.info.is_main:
            atomic_write_json(self.run_dir / "results.json", result)
            rep = preds.report(cfg.eval.head, self.class_names)
            write_report_files(rep, self.run_dir, "test", title=f"test ({cfg.eval.head} head, {cfg.eval.select})")
            print(format_table(rep, f"test, {cfg.eval.head} head ({label}):"))
        return result


def train(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
    """Run training (and the final test evaluation); returns the run directory."""
    info = init_distributed(cfg.run.device)
    try:
        if resume is not None:
            run_dir, ckpt_path = resolve_resume(resume)
            cfg = _merge_resume_config(run_dir / "config.yaml", cfg)
        else:
            run_dir, ckpt_path = prepare_run_dir(cfg, config_name, info), None
        random.seed(cfg.run.seed)
        np.random.seed(cfg.run.seed % 2**32)
        trainer = Trainer(cfg, info, run_dir)
        if ckpt_path is not None:
            trainer.load(ckpt_path)
        state = trainer.fit()
        if state.epoch >= cfg.schedule.epochs:
            trainer.final_report()
        if info.is_main:
            print(f"run directory: {run_dir}")
            print(f"data: {trainer.train_loader.report.summary()}")
        trainer.log.close()
        return run_dir
    finally:
        cleanup()


def _merge_resume_config(saved: Path, requested: TrainConfig) -> TrainConfig:
    """The run's saved config wins (an exact continuation), except the run-control knobs max_steps and progress."""
    cfg = load_config(saved)
    cfg.run.max_steps = requested.run.max_steps
    cfg.run.progress = requested.run.progress
    return cfg
