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
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch.nn.parallel import DistributedDataParallel

from ..data import MixupFMix, build_loader, smooth_one_hot
from ..data.dataset import ClipDataset
from ..data.errors import DataError
from ..errors import TrainingDiverged
from ..factory import save_model
from ..fileio import atomic_write_json
from ..losses import DKClipLoss
from .builders import (
    build_datasets,
    build_model,
    class_names_of,
    clip_weights_file,
    eval_loader,
    loader_workers,
    resolve_amp,
)
from .checkpoint import FORMAT, VERSION, atomic_save, load_training_state, rng_state, set_rng_state
from .distributed import DistInfo, barrier, broadcast_flag, cleanup, init_distributed
from .inference import HEADS, Predictions, autocast_context, predict
from .provenance import finish_record, run_record, write_record
from .reports import format_table, summarize, write_per_class_csv, write_predictions_csv, write_report_files
from .resume import check_resume
from .run_config import TrainConfig, load_config
from .rundir import planned_run_dir, prepare_run_dir, resolve_resume, with_absolute_paths
from .runlock import RunLock, remove_stale_temporaries
from .runlog import RunLogger, format_epoch
from .samplers import ChunkedEpochSampler
from .schedule import WarmupCosineSchedule
from .stopping import StopSignal, TrainingStopped, sigterm_safe
from .validation import check_before_training

logger = logging.getLogger(__name__)


@dataclass
class TrainState:
    epoch: int = 0  # the epoch in progress (or the next one when chunk == 0)
    chunk: int = 0  # loader iterations of `epoch` already consumed (a multiple of the accumulation steps)
    step: int = 0  # optimiser steps taken
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    # Loss sums of the epoch in progress up to its last optimiser step, so that an interrupted epoch's mean
    # loss is exact after resume.
    partial_sums: dict[str, float] = field(default_factory=dict)
    partial_count: int = 0


# ----------------------------------------------------------------------------------------------- the loop
class Trainer:
    def __init__(self, cfg: TrainConfig, info: DistInfo, run_dir: Path, stop_signal: StopSignal | None = None) -> None:
        self.cfg = cfg
        self.info = info
        self.run_dir = run_dir
        self.device = info.device
        self.amp_dtype, use_scaler = resolve_amp(cfg.run.amp, self.device)
        torch.manual_seed(cfg.run.seed)  # identical model init on every rank
        self.model = build_model(cfg).to(self.device)
        self.clip_weights = clip_weights_file(cfg)
        self.class_names = class_names_of(self.model)
        self.train_ds, self.val_ds, self.test_ds = build_datasets(cfg, self.model)
        check_before_training(cfg, self.model, self.train_ds, self.val_ds, self.test_ds, info.world_size)
        s = cfg.schedule
        per_step = s.batch_size * info.world_size
        self.accum = s.effective_batch // per_step
        self.sampler = ChunkedEpochSampler(len(self.train_ds), s.batch_size, self.accum, info.rank,
                                           info.world_size, seed=cfg.run.seed)
        self.train_loader = sigterm_safe(build_loader(
            self.train_ds, s.batch_size, num_workers=loader_workers(cfg.data.workers), sampler=self.sampler,
            drop_last=False, seed=cfg.run.seed, pin_memory=self.device.type == "cuda"))
        self.steps_per_epoch = self.sampler.steps_per_epoch
        total = s.epochs * self.steps_per_epoch
        beta1, beta2 = cfg.optim.betas  # validated: two values
        self.optimizer = torch.optim.AdamW(
            self.model.param_groups(cfg.optim.lr, cfg.optim.weight_decay, cfg.optim.new_module_lr_mult),
            lr=cfg.optim.lr, betas=(beta1, beta2), eps=cfg.optim.eps)
        self.schedule = WarmupCosineSchedule(self.optimizer, total, round(s.warmup_epochs * self.steps_per_epoch),
                                             cfg.schedule.min_lr_ratio)
        self.scaler = torch.amp.GradScaler(self.device.type) if use_scaler else None
        active: tuple[int, int] | None = None
        if cfg.loss.active_epochs is not None:
            start, stop = cfg.loss.active_epochs  # validated: [start, stop)
            active = (start, stop)
        self.loss_fn = DKClipLoss(cfg.loss.lam, cfg.loss.kl_mode, cfg.loss.use_consistency, active)
        a = cfg.augment
        self.mixer = MixupFMix(self.model.num_classes, mixup_alpha=a.mixup_alpha, fmix_alpha=a.fmix_alpha,
                               switch_prob=a.switch_prob, smoothing=a.label_smoothing)
        self.state = TrainState()
        self.stop = stop_signal if stop_signal is not None else StopSignal()
        self._saved: tuple[int, int, int] | None = None  # (epoch, chunk, step) of the last save_last
        # This process's test-split evaluations in fit, by epoch: the weights at the end of that epoch, kept for the
        # last epoch and the best one, so that final_report does not run the same weights over the test split again.
        self._test_evals: dict[int, tuple[Predictions, dict[str, Any]]] = {}
        self._best_saved: int | None = None  # the epoch whose weights this process last saved as best/
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
            "partial": json.dumps({"sums": st.partial_sums, "count": st.partial_count}),
            "rng": rng_state(),
            "config": json.dumps(self.cfg.to_dict()),
        }, self.run_dir / "last.pt")
        self._saved = (st.epoch, st.chunk, st.step)

    def load(self, path: Path) -> None:
        ckpt = load_training_state(path)
        self.model.load_state_dict(ckpt["model"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.schedule.load_state_dict(ckpt["scheduler"])
        if self.scaler is not None and ckpt["scaler"] is not None:
            self.scaler.load_state_dict(ckpt["scaler"])
        partial = json.loads(ckpt.get("partial", '{"sums": {}, "count": 0}'))
        self.state = TrainState(ckpt["epoch"], ckpt["chunk"], ckpt["step"], ckpt["best_metric"],
                                ckpt["best_epoch"], json.loads(ckpt["history"]), partial["sums"], partial["count"])
        self.log.truncate_steps(self.state.step)
        set_rng_state(ckpt["rng"])
        logger.info("resumed from %s at epoch %d, optimiser step %d", path, self.state.epoch, self.state.step)

    def save_best(self, metrics: dict[str, Any]) -> None:
        """Save the model as it is at the end of epoch ``metrics["epoch"]`` as ``best/``."""
        if self.info.is_main:
            best = self.run_dir / "best"
            save_model(self.model, best)
            atomic_write_json(best / "metrics.json", metrics)
        self._best_saved = metrics["epoch"]

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
                f"non-finite loss ({float(loss.detach())}) at epoch {epoch}, iteration {chunk}, after optimiser step "
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
        # Resuming mid-epoch: the loss sums of the part already done come from the checkpoint.
        sums: dict[str, float] = dict(st.partial_sums) if st.chunk else {}
        count = st.partial_count if st.chunk else 0
        started, clips = time.perf_counter(), 0
        progress = self.log.progress(self.sampler.chunks_per_epoch, st.chunk, f"epoch {epoch}", cfg.run.progress,
                                     cfg.run.log_every)
        chunk = st.chunk
        for batch in self.train_loader:
            micro = chunk % self.accum
            video = batch["video"].to(self.device, non_blocking=True)
            labels = batch["label"].to(self.device, non_blocking=True)
            video, target = self._targets(video, labels, epoch, chunk)
            last_micro = micro == self.accum - 1
            sync = (contextlib.nullcontext() if (last_micro or not self.info.enabled)
                    else cast(DistributedDataParallel, self.ddp).no_sync())  # self.ddp is DDP when enabled
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
            st.partial_sums, st.partial_count = dict(sums), count
            lr = self.optimizer.param_groups[0]["lr"]
            if progress is not None:
                rate = clips / max(time.perf_counter() - started, 1e-9)
                progress.set_postfix(loss=f"{loss.total.item():.3f}", lr=f"{lr:.2e}", clips_s=f"{rate:.1f}")
            if st.step % cfg.run.log_every == 0:
                self.log.step(st.step, {**loss.as_floats(), "lr": lr})
            if cfg.run.max_steps is not None and st.step >= cfg.run.max_steps:
                break
            if broadcast_flag(self.stop.requested, self.info):
                if progress is not None:
                    progress.close()
                raise TrainingStopped(f"stopped by SIGTERM at optimiser step {st.step}")
        if progress is not None:
            progress.close()
        if st.chunk < self.sampler.chunks_per_epoch:
            return None  # stopped by max_steps mid-epoch: the partial sums go into the checkpoint
        means = {f"train_{k}": v / max(count, 1) for k, v in sums.items()}
        st.partial_sums, st.partial_count = {}, 0
        means["clips_per_s"] = clips / max(time.perf_counter() - started, 1e-9)
        return means

    def evaluate_split(self, dataset: ClipDataset, split: str,
                       snippets: bool = False) -> tuple[Predictions, dict[str, Any]]:
        loader = sigterm_safe(eval_loader(dataset, self.cfg, self.info))
        preds = predict(self.ddp, loader, self.info, self.amp_dtype, snippets=snippets)
        if preds.labels.size == 0:
            raise DataError(f"the {split} split: every clip was skipped as unreadable ({loader.report.summary()}); "
                            "no metric can be computed")
        return preds, summarize(preds, self.class_names)

    def _test_evaluation(self, epoch: int | None) -> tuple[Predictions, dict[str, Any]]:
        """The test split evaluated (with snippet outputs) with the model's weights now, which are those it had at
        the end of ``epoch`` (None: not known): fit's own evaluation of them when this process made it, else a new
        one."""
        done = self._test_evals.get(epoch) if epoch is not None else None
        if done is not None:
            return done
        assert self.test_ds is not None
        return self.evaluate_split(self.test_ds, "test", snippets=True)

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
                        # With the snippet outputs, as final_report evaluates the test split.
                        preds, summary = self.evaluate_split(ds, split, snippets=split == "test")
                        for h in ("global", "local", "fused"):
                            record[f"{split}_{h}_uar"] = summary[h]["uar"]
                            record[f"{split}_{h}_war"] = summary[h]["war"]
                        value = summary[head][metric]
                        if select != "last" and value > st.best_metric:
                            st.best_metric, st.best_epoch = value, epoch
                            self.save_best({"epoch": epoch, "split": split, "selected_by": f"{split} {metric}",
                                            **summary[head]})
                        if split == "test":
                            self._test_evals = {e: v for e, v in self._test_evals.items() if e == st.best_epoch}
                            self._test_evals[epoch] = (preds, summary)
                    if self.info.is_main:
                        logger.info("%s", format_epoch(record))
                st.history.append(record)
                st.epoch, st.chunk = epoch + 1, 0
                self.log.epoch(st.history)
                self.save_last()
                if cfg.run.max_steps is not None and st.step >= cfg.run.max_steps:
                    return st
                if broadcast_flag(self.stop.requested, self.info):  # e.g. SIGTERM during the evaluation
                    raise TrainingStopped(f"stopped by SIGTERM at optimiser step {st.step}")
        except (KeyboardInterrupt, TrainingStopped) as exc:
            # Keep what was done up to the last optimiser step; a partial accumulation is discarded.
            if self._saved != (st.epoch, st.chunk, st.step):
                self.save_last()
            what = "SIGTERM" if isinstance(exc, TrainingStopped) else "interrupted"
            logger.warning("%s: saved a resumable checkpoint %s (epoch %d, step %d); continue with "
                           "dkclip train --resume %s", what, self.run_dir / "last.pt", st.epoch, st.step, self.run_dir)
            if isinstance(exc, TrainingStopped):
                raise TrainingStopped(f"SIGTERM at epoch {st.epoch}, optimiser step {st.step}: saved the resumable "
                                      f"checkpoint {self.run_dir / 'last.pt'}",
                                      hint=f"resume with: dkclip train --resume {self.run_dir}") from None
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
        last_epoch = None
        if cfg.eval.report_last and cfg.eval.select != "last":
            # The model as trained to the end, before best/ replaces it (eval.report_last, the honest protocol).
            _, last_summary = self._test_evaluation(self.state.epoch - 1)
            last_epoch = {"epoch": self.state.epoch - 1, "heads": last_summary}
        best = self.run_dir / "best" / "model.safetensors"
        barrier(self.info)
        weights_of: int | None = self.state.epoch - 1  # the epoch whose end the evaluated weights are from
        if best.is_file():
            from safetensors.torch import load_file

            self.model.load_state_dict(load_file(str(best), device=str(self.device)))
            weights_of = self._best_saved  # None: best/ was saved by an earlier process
        preds, summary = self._test_evaluation(weights_of)
        label = {
            "val": f"selected on a validation split carved from the training list (best {cfg.eval.metric})",
            "last": "last epoch",
            "test-max": "test-max: epoch selected on the TEST split (the paper's protocol; optimistic)",
        }[cfg.eval.select]
        result = {
            "protocol": cfg.eval.protocol,
            "selection": cfg.eval.select, "selection_note": label, "selected_epoch": self.state.best_epoch
            if cfg.eval.select != "last" else self.state.epoch - 1,
            "reported_head": cfg.eval.head, "views": {"clips": cfg.eval.num_clips, "crops": cfg.eval.num_crops},
            "num_test_clips": int(preds.labels.size), "heads": summary,
            "data": self.train_loader.report.summary(),
        }
        if last_epoch is not None:
            result["last_epoch"] = last_epoch
        if self.info.is_main:
            atomic_write_json(self.run_dir / "results.json", result)
            rep = preds.report(cfg.eval.head, self.class_names)
            write_report_files(rep, self.run_dir, "test", title=f"test ({cfg.eval.head} head, {cfg.eval.select})")
            write_per_class_csv({h: preds.report(h, self.class_names) for h in HEADS}, self.run_dir / "per_class.csv")
            write_predictions_csv(preds, [r.path for r in self.test_ds.records], self.class_names,
                                  self.run_dir / "predictions.csv")
            self.log.emit(format_table(rep, f"test, {cfg.eval.head} head ({label}):"))
        return result


def train(cfg: TrainConfig, config_name: str = "custom", resume: str | Path | None = None) -> Path:
    """Run training (and the final test evaluation); returns the run directory.

    The run directory is locked for the whole run (:mod:`dkclip.engine.runlock`). A new run that fails before
    its first checkpoint leaves no directory behind. SIGTERM, from the start on, stops the run at the next
    optimiser step (or epoch end) with a resumable checkpoint (:class:`TrainingStopped`, exit code 143).
    ``provenance.json`` records how the run came about and how it ended. With ``run.keep=best`` a finished run
    keeps only ``best/`` (``last.pt``, the optimiser state, is removed).
    """
    info = init_distributed(cfg.run.device)
    lock: RunLock | None = None
    run_dir: Path | None = None
    created = False
    record: dict[str, Any] | None = None
    trainer: Trainer | None = None
    stop = StopSignal()
    try:
        with stop:
            if resume is not None:
                run_dir, ckpt_path = resolve_resume(resume)
                cfg = _merge_resume_config(run_dir / "config.yaml", cfg)
            else:
                cfg = with_absolute_paths(cfg)
                run_dir, ckpt_path = planned_run_dir(cfg, config_name), None
            if info.is_main:
                created = not run_dir.exists()
                try:
                    run_dir.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise OSError(f"cannot write to the run directory {run_dir}: {exc.strerror or exc}") from exc
                lock = RunLock(run_dir).acquire()
                remove_stale_temporaries(run_dir)
            if resume is None:
                prepare_run_dir(cfg, run_dir, info)
            barrier(info)
            random.seed(cfg.run.seed)
            np.random.seed(cfg.run.seed % 2**32)
            trainer = Trainer(cfg, info, run_dir, stop)
            if ckpt_path is not None:
                trainer.load(ckpt_path)
            if info.is_main:
                record = run_record({"clip_weights": str(trainer.clip_weights) if trainer.clip_weights else None,
                                     "train_list": cfg.data.train_list, "val_list": cfg.data.val_list,
                                     "test_list": cfg.data.test_list}, info.world_size)
                record["resumed_from"] = str(ckpt_path) if ckpt_path else None
                write_record(run_dir, record)
            if broadcast_flag(stop.requested, info):
                raise TrainingStopped("stopped by SIGTERM before the first optimiser step")
            state = trainer.fit()
            if state.epoch >= cfg.schedule.epochs:
                trainer.final_report()
        if info.is_main:
            trainer.log.emit(f"run directory: {run_dir}")
            trainer.log.emit(f"data: {trainer.train_loader.report.summary()}")
            done = state.epoch >= cfg.schedule.epochs
            if record is not None:
                finish_record(run_dir, record, "finished" if done else f"stopped at run.max_steps={cfg.run.max_steps}")
            if done and cfg.run.keep == "best":
                _keep_only_best(run_dir, trainer.log)
        return run_dir
    except BaseException as exc:
        if info.is_main and run_dir is not None and lock is not None:
            if created and not any((run_dir / name).exists() for name in ("last.pt", "best", "results.json")):
                # A start that failed before anything worth keeping: no orphan run directory. (Only the process
                # that holds the lock may remove it: a second training refused by the lock must not.)
                lock.release()
                lock = None
                if trainer is not None:
                    trainer.log.close()
                shutil.rmtree(run_dir, ignore_errors=True)
            elif record is not None:
                outcome = "interrupted" if isinstance(exc, KeyboardInterrupt | TrainingStopped) else \
                    f"failed: {type(exc).__name__}: {exc}"
                finish_record(run_dir, record, outcome)
        raise
    finally:
        if trainer is not None:
            trainer.log.close()
        if lock is not None:
            lock.release()
        cleanup()


def _keep_only_best(run_dir: Path, log: RunLogger) -> None:
    """``run.keep=best``: remove ``last.pt`` (the weights again plus the optimiser state, e.g. 84 MB against
    ``best/``'s 47 MB for dkclip-tiny)."""
    last = run_dir / "last.pt"
    if not (run_dir / "best" / "model.safetensors").is_file():
        logger.warning("run.keep=best: %s has no best/ model, so last.pt is kept", run_dir)
        return
    size = last.stat().st_size if last.is_file() else 0
    last.unlink(missing_ok=True)
    log.emit(f"run.keep=best: removed last.pt ({size / 2**20:.1f} MiB: optimiser state and weights); the model is "
             f"in {run_dir / 'best'}")


# Run-config keys a resumed run may change (they change how it runs, never what it computes).
RUN_CONTROL_KEYS = frozenset({"run.max_steps", "run.progress", "run.log_every", "run.tensorboard", "run.device",
                              "run.keep", "data.workers", "data.eval_batch_size"})


def _merge_resume_config(saved: Path, requested: TrainConfig) -> TrainConfig:
    """The run's saved config, with the run-control changes of ``requested`` applied; any other change is refused
    by name (:mod:`dkclip.engine.resume`)."""
    cfg = load_config(saved)
    check_resume(cfg.to_dict(), requested.to_dict(), RUN_CONTROL_KEYS, f"--resume {saved.parent}")
    return requested
