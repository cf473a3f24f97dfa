"""Inference over a (sharded) loader: per-clip probabilities of every head, gathered across ranks.

:func:`iterate_outputs` is the one loop "model over a loader's batches" (eval mode, no grad, autocast, multi-view
input flattened into the batch); the heads' probabilities come from :func:`dkclip.model.heads.head_probabilities`
(averaged over views: docs/method.md §1.11). The paper reports the global head.
"""
from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from ..constants import HEADS
from ..model.heads import head_probabilities
from .distributed import DistInfo, all_gather_cat
from .metrics import ClassificationReport, report

if TYPE_CHECKING:
    from ..model.dkclip import DKClip, DKClipOutput

__all__ = ["HEADS", "Predictions", "autocast_context", "iterate_outputs", "predict"]


@dataclass
class Predictions:
    indices: np.ndarray  # dataset indices, sorted
    labels: np.ndarray
    probs: dict[str, np.ndarray]  # head -> (n, K) class probabilities (mean over views)
    # With predict(..., snippets=True): per view, the NRM's keep mask and a* scores, (n, V, N); else None.
    kept: np.ndarray | None = None
    snippet_scores: np.ndarray | None = None

    def report(self, head: str, class_names: list[str]) -> ClassificationReport:
        return report(self.labels, self.probs[head].argmax(axis=1), class_names)


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def iterate_outputs(model: torch.nn.Module, batches: Iterable[dict[str, Any]], device: torch.device,
                    amp_dtype: torch.dtype | None = None) -> Iterator[tuple[dict[str, Any], DKClipOutput, int]]:
    """Run ``model`` (eval mode, no grad, ``amp_dtype`` autocast) over ``batches`` and yield ``(batch, output,
    views)``. A (B, V, T, 3, H, W) video is flattened to B·V rows, V consecutive rows per clip; (B, T, 3, H, W)
    gives V = 1. The model's training mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        for batch in batches:
            video = batch["video"].to(device, non_blocking=True)
            views = 1
            if video.dim() == 6:  # (B, V, T, 3, H, W): multi-view
                views = video.shape[1]
                video = video.flatten(0, 1)
            with torch.no_grad(), autocast_context(device, amp_dtype):
                out = model(video)
            yield batch, out, views
    finally:
        model.train(was_training)


def predict(model: torch.nn.Module, loader: Any, info: DistInfo, amp_dtype: torch.dtype | None = None,
            progress: Any = None, snippets: bool = False) -> Predictions:
    """Run ``model`` over ``loader`` (each rank its shard) and gather every rank's results, in index order.

    ``snippets=True`` also returns the NRM's per-view keep masks and snippet scores (the noise-detection study).
    """
    device = info.device
    indices, labels = [], []
    head_parts: dict[str, list[torch.Tensor]] = {h: [] for h in HEADS}
    kept, scores = [], []
    for batch, out, views in iterate_outputs(model, loader if progress is None else progress(loader), device,
                                             amp_dtype):
        for head, probs in head_probabilities(out, views).items():
            head_parts[head].append(probs)
        if snippets:
            b = out.kept.shape[0] // views
            kept.append(out.kept.view(b, views, -1).to(torch.uint8))  # uint8: gloo cannot gather bool
            scores.append(out.snippet_scores.float().view(b, views, -1))
        labels.append(batch["label"].to(device))
        indices.append(batch["index"].to(device))
    core = cast("DKClip", model.module if hasattr(model, "module") else model)  # unwrap DistributedDataParallel
    k = core.num_classes
    empty = torch.zeros(0, k, device=device)
    idx = all_gather_cat(torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long, device=device), info)
    lab = all_gather_cat(torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=device), info)
    order = torch.argsort(idx)
    probs_np = {h: all_gather_cat(torch.cat(parts) if parts else empty, info)[order].cpu().numpy()
                for h, parts in head_parts.items()}
    extra: dict[str, np.ndarray] = {}
    if snippets:
        n = core.config.num_snippets
        views = kept[0].shape[1] if kept else 1
        for name, parts, dtype in (("kept", kept, torch.uint8), ("snippet_scores", scores, torch.float32)):
            local = torch.cat(parts) if parts else torch.zeros(0, views, n, dtype=dtype, device=device)
            extra[name] = all_gather_cat(local, info)[order].cpu().numpy()
        extra["kept"] = extra["kept"].astype(bool)
    return Predictions(idx[order].cpu().numpy(), lab[order].cpu().numpy(), probs_np, **extra)
