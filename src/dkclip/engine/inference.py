"""Inference over a (sharded) loader: per-clip probabilities of every head, gathered across ranks.

Per view the model gives softmax(z_g) (global head) and softmax(z_l) (fused local head); both are summed over
views (clips × crops) and the fused score is their sum (docs/method.md §1.11). The paper reports the global head.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from .distributed import DistInfo, all_gather_cat
from .metrics import ClassificationReport, report

if TYPE_CHECKING:
    from ..model.dkclip import DKClip

HEADS = ("global", "local", "fused")


@dataclass
class Predictions:
    indices: np.ndarray  # dataset indices, sorted
    labels: np.ndarray
    probs: dict[str, np.ndarray]  # head -> (n, K) scores summed over views
    # With predict(..., snippets=True): per view, the NRM's keep mask and a* scores, (n, V, N); else None.
    kept: np.ndarray | None = None
    snippet_scores: np.ndarray | None = None

    def report(self, head: str, class_names: list[str]) -> ClassificationReport:
        return report(self.labels, self.probs[head].argmax(axis=1), class_names)


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


@torch.no_grad()
def predict(model: torch.nn.Module, loader: Any, info: DistInfo, amp_dtype: torch.dtype | None = None,
            progress: Any = None, snippets: bool = False) -> Predictions:
    """Run ``model`` over ``loader`` (each rank its shard) and gather every rank's results, in index order.

    ``snippets=True`` also returns the NRM's per-view keep masks and snippet scores (the noise-detection study).
    """
    was_training = model.training
    model.eval()
    device = info.device
    indices, labels, global_p, local_p = [], [], [], []
    kept, scores = [], []
    for batch in loader if progress is None else progress(loader):
        video = batch["video"].to(device, non_blocking=True)
        views = 1
        if video.dim() == 6:  # (B, V, T, 3, H, W): multi-view
            views = video.shape[1]
            video = video.flatten(0, 1)
        with autocast_context(device, amp_dtype):
            out = model(video)
        b = video.shape[0] // views
        global_p.append(out.logits.float().softmax(-1).view(b, views, -1).sum(1))
        local_p.append(out.fused_local_logits.float().softmax(-1).view(b, views, -1).sum(1))
        if snippets:
            kept.append(out.kept.view(b, views, -1).to(torch.uint8))  # uint8: gloo cannot gather bool
            scores.append(out.snippet_scores.float().view(b, views, -1))
        labels.append(batch["label"].to(device))
        indices.append(batch["index"].to(device))
    model.train(was_training)
    core = cast("DKClip", model.module if hasattr(model, "module") else model)  # unwrap DistributedDataParallel
    k = core.num_classes
    empty = torch.zeros(0, k, device=device)
    cat = {
        "global": torch.cat(global_p) if global_p else empty,
        "local": torch.cat(local_p) if local_p else empty,
    }
    idx = all_gather_cat(torch.cat(indices) if indices else torch.zeros(0, dtype=torch.long, device=device), info)
    lab = all_gather_cat(torch.cat(labels) if labels else torch.zeros(0, dtype=torch.long, device=device), info)
    probs = {h: all_gather_cat(p, info) for h, p in cat.items()}
    order = torch.argsort(idx)
    probs_np = {h: p[order].cpu().numpy() for h, p in probs.items()}
    probs_np["fused"] = probs_np["global"] + probs_np["local"]
    extra: dict[str, np.ndarray] = {}
    if snippets:
        n = core.config.num_snippets
        views = kept[0].shape[1] if kept else 1
        for name, parts, dtype in (("kept", kept, torch.uint8), ("snippet_scores", scores, torch.float32)):
            local = torch.cat(parts) if parts else torch.zeros(0, views, n, dtype=dtype, device=device)
            extra[name] = all_gather_cat(local, info)[order].cpu().numpy()
        extra["kept"] = extra["kept"].astype(bool)
    return Predictions(idx[order].cpu().numpy(), lab[order].cpu().numpy(), probs_np, **extra)
