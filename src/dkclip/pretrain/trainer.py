"""``dkclip pretrain``: CLIP's symmetric InfoNCE with a learnable temperature, both towers, on AU-captioned
synthetic frames. Resumable (``state.pt`` every ``save_every`` steps, written atomically); the result is a
CLIP state dict in safetensors that ``create_model(..., clip_weights=...)`` loads.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from open_clip.model import CLIP
from torch.utils.data import DataLoader

from ..checkpoints import PRETRAIN_STATE_FORMAT, STATE_VERSION, read_state
from ..clip_loading import build_clip, get_tokenizer
from ..data.transforms import Normalize
from ..engine.checkpoint import atomic_save
from ..engine.resume import check_resume
from ..engine.schedule import WarmupCosineSchedule
from ..errors import TrainingDiverged
from ..fileio import atomic_write, atomic_write_json
from ..prompts import PROMPT_SETS
from ..registry import get_model_config
from ..synth import ClipSpec, SynthConfig, render_clip
from ..threads import torch_threads
from .data import IDENTITY_SEED_BASE, CaptionedFrameBatches, StreamConfig
from .pretrain_config import PretrainConfig

logger = logging.getLogger(__name__)
# Settings that change speed or logging, never the weights: a resumed run may change them.
_NOT_RESULT_FIELDS = frozenset({"out_dir", "workers", "threads", "log_every", "save_every", "eval_every"})


def clip_param_groups(model: torch.nn.Module, lr: float, weight_decay: float) -> list[dict]:
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, p in model.named_parameters():
        (no_decay if p.ndim < 2 or "embedding" in name or "logit_scale" in name else decay).append(p)
    return [{"params": decay, "lr": lr, "weight_decay": weight_decay},
            {"params": no_decay, "lr": lr, "weight_decay": 0.0}]


def contrastive_loss(image_features: torch.Tensor, text_features: torch.Tensor,
                     logit_scale: torch.Tensor) -> torch.Tensor:
    image_features = F.normalize(image_features, dim=-1)
    text_features = F.normalize(text_features, dim=-1)
    logits = logit_scale.exp().clamp(max=100) * image_features @ text_features.T
    labels = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels))


class ZeroShotProbe:
    """A fixed held-out set of clean apex frames (identities of a separate seed) scored with a prompt set."""

    def __init__(self, image_size: int, per_class: int = 12, seed: int = 99, num_classes: int = 7) -> None:
        frames, labels = [], []
        synth = SynthConfig(size=image_size)
        for k in range(num_classes):
            for i in range(per_class):
                idx = k * per_class + i
                spec = ClipSpec(clip_id=f"z{idx}", label=k, identity=idx, num_frames=16, index=idx,
                                seed=IDENTITY_SEED_BASE + 10_000 + seed, noisy=False, config=synth)
                video, truth = render_clip(spec, noise=False)
                frames.append(video[int(np.argmax(truth.envelope))])
                labels.append(k)
        self.images = Normalize()(torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2))
        self.labels = torch.tensor(labels)
        self.num_classes = num_classes

    @torch.no_grad()
    def accuracy(self, model: CLIP, tokenizer: Callable[[list[str]], torch.Tensor], prompt_set: str) -> float:
        was = model.training
        model.eval()
        text = F.normalize(model.encode_text(tokenizer(list(PROMPT_SETS[prompt_set]))), dim=-1)
        image = F.normalize(model.encode_image(self.images), dim=-1)
        pred = (image @ text.T).argmax(-1)
        recalls = [(pred[self.labels == k] == k).float().mean().item() for k in range(self.num_classes)]
        model.train(was)
        return float(np.mean(recalls))  # UAR


@functools.lru_cache(maxsize=2)
def zero_shot_probe(image_size: int) -> ZeroShotProbe:
    """The probe of ``image_size``, rendered once per process (84 clips of 16 frames: seconds on a CPU; the probe is
    deterministic and only read)."""
    return ZeroShotProbe(image_size)


def save_clip_weights(model: torch.nn.Module, path: Path, dtype: torch.dtype = torch.float16) -> Path:
    from safetensors.torch import save_file

    state = {k: v.detach().to(dtype).contiguous().cpu() for k, v in model.state_dict().items()}
    return atomic_write(path, lambda tmp: save_file(state, tmp, metadata={"format": "pt"}))


def pretrain(cfg: PretrainConfig) -> Path:
    """Pretrain per ``cfg`` (resuming from its ``state.pt``); ``cfg.threads`` torch threads for the run only."""
    with torch_threads(cfg.threads):
        return _pretrain(cfg)


def _pretrain(cfg: PretrainConfig) -> Path:
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    arch = get_model_config(cfg.model).clip
    torch.manual_seed(cfg.seed)
    model = build_clip(arch)
    if cfg.init_weights:
        from ..clip_loading import read_state_dict

        model.load_state_dict(read_state_dict(cfg.init_weights))
        logger.info("pretraining starts from %s", cfg.init_weights)
    tokenizer = get_tokenizer(arch)
    optimizer = torch.optim.AdamW(clip_param_groups(model, cfg.lr, cfg.weight_decay), lr=cfg.lr,
                                  betas=(0.9, 0.98), eps=1e-6)
    schedule = WarmupCosineSchedule(optimizer, cfg.steps, cfg.warmup_steps, cfg.min_lr_ratio)
    step = 0
    state_path = out / "state.pt"
    if state_path.is_file():
        state = read_state(state_path, PRETRAIN_STATE_FORMAT)
        check_resume(json.loads(state["config"]), asdict(cfg), _NOT_RESULT_FIELDS, str(state_path))
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["scheduler"])
        step = int(state["step"])
        logger.info("resuming pretraining at step %d", step)
    else:
        atomic_write_json(out / "pretrain_config.json", asdict(cfg))
    stream = StreamConfig(seed=cfg.seed, clips_per_batch=cfg.clips_per_batch, frames_per_clip=cfg.frames_per_clip,
                          p_emotion=cfg.p_emotion, image_size=arch["vision_cfg"]["image_size"])
    dataset = CaptionedFrameBatches(stream, tokenizer, cfg.steps)
    loader = DataLoader(dataset, batch_size=None, sampler=range(step, cfg.steps), num_workers=cfg.workers,
                        persistent_workers=False, prefetch_factor=4 if cfg.workers else None)

    def save_state() -> None:
        atomic_save({"format": PRETRAIN_STATE_FORMAT, "version": STATE_VERSION, "model": model.state_dict(),
                     "optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict(), "step": step,
                     "config": json.dumps(asdict(cfg))}, state_path)

    model.train()
    started = time.perf_counter()
    images_seen = 0
    log_file = out / "pretrain_log.jsonl"
    for batch in loader:
        loss = contrastive_loss(model.encode_image(batch["images"]), model.encode_text(batch["tokens"]),
                                model.logit_scale)
        if not math.isfinite(loss.item()):
            raise TrainingDiverged(f"non-finite contrastive loss at step {step}; last good state: {state_path}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        step += 1
        images_seen += batch["images"].shape[0]
        record = None
        if step % cfg.log_every == 0 or step == cfg.steps:
            elapsed = time.perf_counter() - started
            record = {"step": step, "loss": round(loss.item(), 4), "scale": round(model.logit_scale.exp().item(), 2),
                      "lr": optimizer.param_groups[0]["lr"], "images_per_s": round(images_seen / elapsed, 1),
                      "elapsed_s": round(elapsed, 1)}
        if step % cfg.eval_every == 0 or step == cfg.steps:
            record = record or {"step": step}
            for name in ("dfew", "dfew_classnames"):
                record[f"zero_shot_uar_{name}"] = round(zero_shot_probe(stream.image_size).accuracy(
                    model, tokenizer, name), 4)
        if record is not None:
            with log_file.open("a") as fh:
                fh.write(json.dumps(record) + "\n")
            logger.info("%s", record)
        if step % cfg.save_every == 0 or step == cfg.steps:
            save_state()
    weights = save_clip_weights(model, out / "clip.safetensors")
    logger.info("pretrained CLIP weights: %s", weights)
    return weights
