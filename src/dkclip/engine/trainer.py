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
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..data import MixupFMix, build_loader, smooth_one_hot
from ..data.dataset import ClipDataset
from ..errors import ConfigError, TrainingDiverged
from ..factory import save_model
from ..fileio import atomic_write_json
from ..losses import DKClipLoss
from .builders import build_datasets, build_model, class_names_of, eval_loader, resolve_amp
from .checkpoint import FORMAT, VERSION, atomic_save, load_training_state, rng_state, set_rng_state
from .config import TrainConfig, load_config
from .distributed import DistInfo, barrier, cleanup, init_distributed
from .inference import Predictions, autocast_context, predict
from .reports import format_table, summarize, write_predictions_csv, write_report_files
from .resume import check_resume
from .rundir import prepare_run_dir, resolve_resume
from .runlog import RunLogger
from .samplers import ChunkedEpochSampler
from .schedule import WarmupCosineSchedule

logger = logging.getLogger(__name__)


@dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (or the next one when chunk == 0)
    chunk: int = 0  # loader iterations of `epoch` already consumed (a multiple of the accumulation steps)
    step: int = 0  # optimiser steps taken
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)


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
        self.loss_fn = DKClipLoss(cfg.loss.lam, cfg.loss.kl_mode, cfg.loss.use_consistency, active)
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
            write_predictions_csv(preds, [r.path for r in self.test_ds.records], self.class_names,
                                  self.run_dir / "predictions.csv")
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


# Run-config keys a resumed run may change (they change how it runs, never what it computes).
RUN_CONTROL_KEYS = frozenset({"run.max_steps", "run.progress", "run.log_every", "run.tensorboard", "run.device",
                              "data.workers", "data.eval_batch_size"})


def _merge_resume_config(saved: Path, requested: TrainConfig) -> TrainConfig:
    """The run's saved config, with the run-control changes of ``requested`` applied; any other change is refused
    by name (:mod:`dkclip.engine.resume`)."""
    cfg = load_config(saved)
    check_resume(cfg.to_dict(), requested.to_dict(), RUN_CONTROL_KEYS, f"--resume {saved.parent}")
    return requested
