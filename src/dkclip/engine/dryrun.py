"""``dkclip train CONFIG --dry-run``: build the model and the data of a run, take two training iterations and one
evaluation batch, and report the time per step and the peak memory, without leaving a run directory.

Two iterations, because the first allocates AdamW's state and pays one-time costs (the prompt features, cuDNN's
autotuning): the second shows the steady-state time and the true peak (weights + gradients + optimiser state +
activations). Everything a run would write goes to a temporary directory that is removed at the end.

Memory: on CUDA, the peak allocated and reserved by PyTorch on this process's GPU; on the CPU, the peak resident
set size of this process (``getrusage``), which includes the Python interpreter and libraries; data-loader
workers are separate processes and are not counted. The epoch estimate is iterations × the steady iteration
time: data loading (overlapped by workers) and evaluation are not in it.
"""

from __future__ import annotations

import copy
import math
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .builders import eval_loader
from .distributed import cleanup, init_distributed
from .inference import autocast_context
from .run_config import TrainConfig
from .rundir import with_absolute_paths
from .runlog import format_duration

GIB = 1024**3


@dataclass
class DryRunReport:
    model: str
    device: str
    amp: str
    world_size: int
    params: int
    trainable: int
    grad_checkpointing: bool
    clips: dict[str, int]  # split -> clips
    batch_size: int
    accumulation: int  # iterations per optimiser step on this process
    iterations_per_epoch: int
    build_s: float  # model + data + optimiser
    data_s: list[float] = field(default_factory=list)  # time to get each training batch from the loader
    step_s: list[float] = field(default_factory=list)  # forward + backward + optimiser step, per iteration
    losses: list[float] = field(default_factory=list)
    eval_clips: int = 0
    eval_views: int = 1
    eval_s: float = 0.0
    memory: dict[str, float] = field(default_factory=dict)  # name -> GiB
    epochs: int = 0

    @property
    def steady_step_s(self) -> float:
        return self.step_s[-1] if self.step_s else math.nan

    def summary(self) -> str:
        clips = ", ".join(f"{n} {k}" for k, n in self.clips.items())
        mem = ", ".join(f"{k} {v:.2f} GiB" for k, v in self.memory.items())
        per_epoch = self.iterations_per_epoch * self.steady_step_s
        steps = " / ".join(f"{s:.2f} s" for s in self.step_s)
        data = " / ".join(f"{s:.2f} s" for s in self.data_s)
        lines = [
            f"dry run: {self.model} on {self.device} (amp {self.amp}, world size {self.world_size}, "
            f"gradient checkpointing {'on' if self.grad_checkpointing else 'off'}); nothing was written",
            f"  parameters: {self.params / 1e6:.1f} M, {self.trainable / 1e6:.1f} M trained",
            f"  data: {clips}; built model, data and optimiser in {self.build_s:.1f} s",
            f"  training iteration ({self.batch_size} clip(s) per process, forward + backward + optimiser step): "
            f"{steps} (the first includes one-time set-up); loss {' / '.join(f'{v:.4f}' for v in self.losses)}",
            f"  batch loading: {data}",
            f"  evaluation batch ({self.eval_clips} clip(s) x {self.eval_views} view(s), forward only): "
            f"{self.eval_s:.2f} s",
            f"  peak memory: {mem}",
            f"  one optimiser step = {self.accumulation} iteration(s); an epoch = {self.iterations_per_epoch} "
            f"iterations ≈ {format_duration(per_epoch)} of compute, {self.epochs} epochs ≈ "
            f"{format_duration(per_epoch * self.epochs)} (data loading and evaluation not included)",
        ]
        return "\n".join(lines)


def _peak_rss_gib() -> float:
    import resource

    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / GIB if sys.platform == "darwin" else peak * 1024 / GIB  # bytes on macOS, KiB on Linux


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def dry_run(cfg: TrainConfig, iterations: int = 2) -> DryRunReport:
    """Build the run of ``cfg`` in a temporary directory, time ``iterations`` training iterations and one
    evaluation batch, and measure the peak memory; nothing is left on disk."""
    from .trainer import Trainer

    info = init_distributed(cfg.run.device)
    cfg = with_absolute_paths(copy.deepcopy(cfg))
    cfg.run.tensorboard = False
    cfg.run.progress = False
    device = info.device
    try:
        with tempfile.TemporaryDirectory(prefix="dkclip-dry-run-") as tmp:
            rss_before = _peak_rss_gib()
            if device.type == "cuda":
                torch.cuda.reset_peak_memory_stats(device)
            started = time.perf_counter()
            trainer = Trainer(cfg, info, Path(tmp))
            try:
                build_s = time.perf_counter() - started
                model = trainer.model
                clips = {"train": len(trainer.train_ds)}
                for split, ds in (("validation", trainer.val_ds), ("test", trainer.test_ds)):
                    if ds is not None:
                        clips[split] = len(ds)
                report = DryRunReport(
                    model=cfg.model.name, device=str(device),
                    amp=str(trainer.amp_dtype).removeprefix("torch.") if trainer.amp_dtype else "fp32",
                    world_size=info.world_size, params=sum(p.numel() for p in model.parameters()),
                    trainable=sum(p.numel() for p in model.parameters() if p.requires_grad),
                    grad_checkpointing=cfg.run.grad_checkpointing, clips=clips, batch_size=cfg.schedule.batch_size,
                    accumulation=trainer.accum, iterations_per_epoch=trainer.sampler.chunks_per_epoch,
                    build_s=build_s, epochs=cfg.schedule.epochs)
                _train_iterations(trainer, report, iterations)
                _eval_batch(trainer, cfg, report)
                if device.type == "cuda":
                    report.memory["allocated"] = torch.cuda.max_memory_allocated(device) / GIB
                    report.memory["reserved"] = torch.cuda.max_memory_reserved(device) / GIB
                report.memory["process RSS"] = _peak_rss_gib()
                report.memory["RSS before the model was built"] = rss_before
                return report
            finally:
                trainer.log.close()
    finally:
        cleanup()


def _train_iterations(trainer: Any, report: DryRunReport, iterations: int) -> None:
    device = trainer.device
    trainer.sampler.set_epoch(0, 0)
    trainer.train_ds.set_epoch(0)
    trainer.ddp.train()
    batches = iter(trainer.train_loader)
    for _ in range(iterations):
        started = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            break
        report.data_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        video = batch["video"].to(device, non_blocking=True)
        labels = batch["label"].to(device, non_blocking=True)
        video, target = trainer.mixer(video, labels)
        with autocast_context(device, trainer.amp_dtype):
            out = trainer.ddp(video)
        loss = trainer.loss_fn(out, target, 0)
        (trainer.scaler.scale(loss.total) if trainer.scaler is not None else loss.total).backward()
        trainer._optimizer_step()  # the run's own step: clipping, scaler, schedule
        _sync(device)
        report.step_s.append(time.perf_counter() - started)
        report.losses.append(float(loss.total.detach()))


@torch.no_grad()
def _eval_batch(trainer: Any, cfg: TrainConfig, report: DryRunReport) -> None:
    dataset = trainer.val_ds if trainer.val_ds is not None else trainer.test_ds
    if dataset is None:
        return
    batch = next(iter(eval_loader(dataset, cfg, trainer.info)))
    video = batch["video"].to(trainer.device)
    if video.dim() == 6:  # (B, V, T, 3, H, W): multi-view
        report.eval_views = video.shape[1]
        video = video.flatten(0, 1)
    report.eval_clips = len(batch["label"])
    trainer.ddp.eval()
    started = time.perf_counter()
    with autocast_context(trainer.device, trainer.amp_dtype):
        trainer.ddp(video)
    _sync(trainer.device)
    report.eval_s = time.perf_counter() - started
