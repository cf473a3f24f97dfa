"""NRM, the noise reducing module (Eq. 9, docs/method.md §1.7).

a_n = scale · cos(v, s_n); per-sample min-max scaling (with ε, so identical snippets give no NaN), then a softmax
over the N snippets gives a*. Snippets with a*_n < θ are erased; the most similar snippet never is. The mask is
not differentiable; a* is.

``norm`` (the model option ``nrm_norm``) selects the per-clip normalisation before the softmax: ``"minmax"``
(Eq. 9 as the authors' code, the default), ``"zscore"`` ((a − mean) / std over the N snippets) or ``"none"`` (the
softmax of the scaled cosines themselves). Min-max and z-score are scale-free, so the least typical snippet of
a clip scores low even when every snippet is alike; ``"none"`` keeps the absolute similarity, so alike snippets
all get a* ≈ 1/N.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NRM_NORMS: tuple[str, ...] = ("minmax", "zscore", "none")


def snippet_scores(video: torch.Tensor, snippets: torch.Tensor, scale: float, eps: float = 1e-6,
                   norm: str = "minmax") -> torch.Tensor:
    """video (B, E), snippets (B, N, E) -> normalised similarity scores a* (B, N), summing to 1."""
    sim = scale * torch.einsum("be,bne->bn", F.normalize(video, dim=-1), F.normalize(snippets, dim=-1))
    if norm == "minmax":
        low = sim.min(dim=1, keepdim=True).values
        high = sim.max(dim=1, keepdim=True).values
        return torch.softmax((sim - low) / (high - low + eps), dim=1)
    if norm == "zscore":
        mean = sim.mean(dim=1, keepdim=True)
        std = sim.std(dim=1, keepdim=True, unbiased=False) if sim.shape[1] > 1 else torch.zeros_like(mean)
        return torch.softmax((sim - mean) / (std + eps), dim=1)
    if norm == "none":
        return torch.softmax(sim, dim=1)
    raise ValueError(f"norm must be one of {NRM_NORMS}, got {norm!r}")


def keep_mask(scores: torch.Tensor, theta: float) -> torch.Tensor:
    """Snippets kept by the NRM (B, N) bool: a*_n >= θ, and always the arg-max snippet."""
    kept = scores >= theta
    best = F.one_hot(scores.argmax(dim=1), scores.shape[1]).bool()
    return kept | best
