"""DK-CLIP's training loss (Eq. 11): L = CE(global) + λ · (CE(fused local) + L_kl).

``kl_mode``:
- ``"kl"`` (default, the paper): KL(p_g ‖ p_l) with temperature 1, gradients into both heads;
- ``"authors_code"``: the released code's term, soft cross-entropy of softmax(p_l) against p_g, i.e. the
  probabilities fed in again as logits (a "double softmax", docs/method.md §1.10 / D8). Nearly constant; kept for
  reproducing the code's behaviour.

The consistency part (local CE + KL) can be limited to an epoch window: ``(start, stop)`` with ``stop``
exclusive; the authors' code uses ``(0, 14)``. Default: every epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

from .model.dkclip import DKClipOutput


def soft_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of −Σ_k y_k log softmax(z)_k. ``target``: class indices (B,) or soft labels (B, K)."""
    if target.dim() == 1:
        return F.cross_entropy(logits, target)
    if target.shape != logits.shape:
        raise ValueError(f"soft targets of shape {tuple(target.shape)} for logits {tuple(logits.shape)}")
    return -(target * logits.log_softmax(dim=-1)).sum(dim=-1).mean()


def kl_global_local(global_logits: torch.Tensor, local_logits: torch.Tensor) -> torch.Tensor:
    """KL(p_g ‖ p_l), batch mean. ``local_logits`` may be log-probabilities (probability-level fusion)."""
    log_pg = global_logits.log_softmax(dim=-1)
    log_pl = local_logits.log_softmax(dim=-1)
    return (log_pg.exp() * (log_pg - log_pl)).sum(dim=-1).mean()


def authors_code_consistency(global_logits: torch.Tensor, local_logits: torch.Tensor) -> torch.Tensor:
    """The released code's term: soft CE of softmax(z_l) used as logits, with softmax(z_g) as target."""
    return soft_cross_entropy(local_logits.softmax(dim=-1), global_logits.softmax(dim=-1))


@dataclass
class LossOutput:
    total: torch.Tensor
    global_ce: torch.Tensor
    local_ce: torch.Tensor | None
    consistency: torch.Tensor | None

    def as_floats(self) -> dict[str, float]:
        items = {"loss": self.total, "global_ce": self.global_ce, "local_ce": self.local_ce,
                 "consistency": self.consistency}
        return {k: float(v.detach()) for k, v in items.items() if v is not None}


class DKClipLoss(torch.nn.Module):
    def __init__(self, lam: float = 1.0, kl_mode: Literal["kl", "authors_code"] = "kl",
                 use_consistency: bool = True, active_epochs: tuple[int, int] | None = None) -> None:
        super().__init__()
        if kl_mode not in ("kl", "authors_code"):
            raise ValueError(f"kl_mode must be 'kl' or 'authors_code', got {kl_mode!r}")
        if active_epochs is not None and not 0 <= active_epochs[0] <= active_epochs[1]:
            raise ValueError(f"active_epochs must be (start, stop) with 0 <= start <= stop, got {active_epochs}")
        self.lam = lam
        self.kl_mode = kl_mode
        self.use_consistency = use_consistency
        self.active_epochs = active_epochs

    def consistency_active(self, epoch: int | None) -> bool:
        if not self.use_consistency or self.lam == 0:
            return False
        if self.active_epochs is None or epoch is None:
            return True
        return self.active_epochs[0] <= epoch < self.active_epochs[1]

    def forward(self, output: DKClipOutput, target: torch.Tensor, epoch: int | None = None) -> LossOutput:
        global_ce = soft_cross_entropy(output.logits, target)
        if not self.consistency_active(epoch):
            return LossOutput(global_ce, global_ce, None, None)
        local_ce = soft_cross_entropy(output.fused_local_logits, target)
        term = kl_global_local if self.kl_mode == "kl" else authors_code_consistency
        consistency = term(output.logits, output.fused_local_logits)
        total = global_ce + self.lam * (local_ce + consistency)
        return LossOutput(total, global_ce, local_ce, consistency)
