"""The DK-CLIP loss (Eq. 11): finite values, the KL term, soft targets, the authors' variant, epoch windows."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dkclip.losses import (
    DKClipLoss,
    authors_code_consistency,
    kl_global_local,
    soft_cross_entropy,
)
from dkclip.model.dkclip import DKClipOutput


def _output(global_logits: torch.Tensor, fused: torch.Tensor) -> DKClipOutput:
    b, k = global_logits.shape
    return DKClipOutput(
        logits=global_logits, local_logits=fused.unsqueeze(1).expand(b, 4, k), fused_local_logits=fused,
        snippet_scores=torch.full((b, 4), 0.25), kept=torch.ones(b, 4, dtype=torch.bool),
        video_embedding=torch.zeros(b, 8), snippet_embeddings=torch.zeros(b, 4, 8),
        text_features=torch.zeros(b, k, 8), visual_tokens=None,
    )


def test_kl_is_zero_for_equal_distributions_and_positive_otherwise() -> None:
    logits = torch.randn(5, 7)
    assert float(kl_global_local(logits, logits)) == pytest.approx(0.0, abs=1e-6)
    assert float(kl_global_local(logits, logits + 3.0)) == pytest.approx(0.0, abs=1e-6)  # shift-invariant
    other = torch.randn(5, 7)
    expected = F.kl_div(other.log_softmax(-1), logits.log_softmax(-1), log_target=True, reduction="batchmean")
    assert float(kl_global_local(logits, other)) == pytest.approx(float(expected), rel=1e-5)
    assert float(kl_global_local(logits, other)) > 0


def test_soft_targets_match_hard_targets_and_sum_to_one() -> None:
    logits = torch.randn(4, 7)
    labels = torch.tensor([0, 6, 2, 2])
    hard = soft_cross_entropy(logits, labels)
    one_hot = F.one_hot(labels, 7).float()
    assert float(soft_cross_entropy(logits, one_hot)) == pytest.approx(float(hard), rel=1e-6)
    smoothed = one_hot * 0.9 + 0.1 / 7
    assert torch.isfinite(soft_cross_entropy(logits, smoothed))
    with pytest.raises(ValueError, match="soft targets of shape"):
        soft_cross_entropy(logits, torch.zeros(4, 6))


def test_total_loss_composition() -> None:
    g, l_ = torch.randn(3, 7), torch.randn(3, 7)
    target = torch.softmax(torch.randn(3, 7), -1)
    out = DKClipLoss(lam=0.5)(_output(g, l_), target)
    expected = soft_cross_entropy(g, target) + 0.5 * (soft_cross_entropy(l_, target) + kl_global_local(g, l_))
    assert float(out.total) == pytest.approx(float(expected), rel=1e-6)
    assert set(out.as_floats()) == {"loss", "global_ce", "local_ce", "consistency"}


def test_loss_at_init_is_finite_and_of_order_log_k() -> None:
    import dkclip

    model = dkclip.create_model("dkclip-tiny")
    out = model(torch.randn(2, 16, 3, 112, 112))
    loss = DKClipLoss()(out, torch.tensor([1, 4]))
    assert torch.isfinite(loss.total)
    assert 0.1 * math.log(7) < float(loss.global_ce) < 10 * math.log(7)


def test_authors_code_term_is_the_double_softmax_and_nearly_constant() -> None:
    k = 7
    g = torch.tensor([[20.0, 0, 0, 0, 0, 0, 0]])
    # Probabilities in [0, 1] fed in as logits: the value lies in [log(1 + (K-1)/e), log(e + K - 1)] =
    # [1.165, 2.165] for K = 7 (docs/method.md §1.10 rounds these to 1.17 and 2.17).
    low, high = math.log(1 + (k - 1) / math.e), math.log(math.e + k - 1)
    for local in (g, -g, torch.zeros(1, k)):
        value = float(authors_code_consistency(g, local))
        assert low - 1e-5 <= value <= high + 1e-5
    pl = torch.softmax(g, -1)
    expected = -(torch.softmax(g, -1) * torch.log_softmax(pl, -1)).sum()
    assert float(authors_code_consistency(g, g)) == pytest.approx(float(expected), rel=1e-6)
    out = DKClipLoss(kl_mode="authors_code")(_output(g, g), torch.tensor([0]))
    assert float(out.consistency) > 1.0  # unlike the KL, not 0 for equal distributions


def test_epoch_window_and_switches() -> None:
    g, l_ = torch.randn(2, 7), torch.randn(2, 7)
    target = torch.tensor([0, 1])
    windowed = DKClipLoss(active_epochs=(0, 14))
    assert windowed(_output(g, l_), target, epoch=13).local_ce is not None
    late = windowed(_output(g, l_), target, epoch=14)
    assert late.local_ce is None and torch.equal(late.total, late.global_ce)
    off = DKClipLoss(use_consistency=False)(_output(g, l_), target, epoch=0)
    assert off.consistency is None
    with pytest.raises(ValueError, match="kl_mode"):
        DKClipLoss(kl_mode="js")
