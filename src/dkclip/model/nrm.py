"""NRM, the noise reducing module (Eq. 9, docs/method.md §1.7).

a_n = scale · cos(v, s_n); per-sample min-max scaling (with ε, so identical snippets give no NaN), then a softmax
over the N snippets gives a*. Snippets with a*_n < θ are erased; the most similar snippet never is. The mask is
not differentiable; a* is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def snippet_scores(video: torch.Tensor, snippets: torch.Tensor, scale: float, eps: float = 1e-6) -> torch.Tensor:
    """video (B, E), snippets (B, N, E) -> normalised similarity scores a* (B, N), summing to 1."""
    sim = scale * torch.einsum("be,bne->bn", F.normalize(video, dim=-1), F.normalize(snippets, dim=-1))
    low = sim.min(dim=1, keepdim=True).values
    high = sim.max(dim=1, keepdim=True).values
    return torch.softmax((sim - low) / (high - low + eps), dim=1)


def keep_mask(scores: torch.Tensor, theta: float) -> torch.Tensor:
    """Snippets kept by the NRM (B, N) bool: a*_n >= θ, and always the arg-max snippet."""
    kept = scores >= theta
    best = F.one_hot(scores.argmax(dim=1), scores.shape[1]).bool()
    return kept | best
