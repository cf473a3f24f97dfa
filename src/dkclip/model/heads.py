"""The one place a forward pass becomes class probabilities per head.

Every consumer (``dkclip evaluate`` and training reports, the ablation evaluator, the video predictor) calls
:func:`head_probabilities`, so a head means the same everywhere:

- ``global``: softmax of the global logits z_g (the paper's prediction);
- ``local``: softmax of the model's own ``fused_local_logits``, i.e. Eq. 10 exactly as the config says
  (``fuse_level``, ``renorm_fusion_weights``): never recomputed here;
- ``fused``: the mean of the two, so that it is a distribution too.

Multi-view input (clips × crops of one video, flattened into the batch view-major per clip) is averaged over the
views of each clip: every head's scores stay probabilities (the released code sums; argmax is the same).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

import numpy as np
import torch

from ..constants import HEADS

if TYPE_CHECKING:
    from .dkclip import DKClipOutput

__all__ = ["HEADS", "combine_heads", "head_probabilities", "mean_over_views"]

Scores = TypeVar("Scores", torch.Tensor, np.ndarray)


def combine_heads(global_probs: Scores, local_probs: Scores) -> Scores:
    """The ``fused`` head from the other two (tensors or arrays of the same shape)."""
    return (global_probs + local_probs) / 2


def mean_over_views(scores: torch.Tensor, views: int) -> torch.Tensor:
    """(B·V, ...) rows, V consecutive rows per clip -> (B, ...) their mean."""
    if views == 1:
        return scores
    return scores.view(scores.shape[0] // views, views, *scores.shape[1:]).mean(dim=1)


def head_probabilities(out: DKClipOutput, views: int = 1) -> dict[str, torch.Tensor]:
    """Per clip, each head of :data:`HEADS` as float32 class probabilities (B, K); ``views`` consecutive rows of
    ``out`` belong to one clip and are averaged."""
    glob = mean_over_views(out.logits.float().softmax(-1), views)
    local = mean_over_views(out.fused_local_logits.float().softmax(-1), views)
    return {"global": glob, "local": local, "fused": combine_heads(glob, local)}
