"""The NRM's normalisation option (``nrm_norm``): Eq. 9's min-max stays the default; z-score and none by hand."""

from __future__ import annotations

import math

import pytest
import torch

from dkclip.config import DKClipConfig
from dkclip.errors import ConfigError
from dkclip.model.nrm import keep_mask, snippet_scores


def _alike(n: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """A video embedding and n snippets at nearly the same angle to it (a clean clip)."""
    video = torch.tensor([[1.0, 0.0]])
    angles = torch.tensor([0.0] * (n - 1) + [0.01])  # the last one a hair less typical
    snippets = torch.stack([torch.cos(angles), torch.sin(angles)], dim=-1)[None]
    return video, snippets


def test_min_max_is_the_default_and_erases_the_least_typical_of_alike_snippets() -> None:
    video, snippets = _alike()
    default = snippet_scores(video, snippets, scale=14.55)
    torch.testing.assert_close(default, snippet_scores(video, snippets, 14.55, norm="minmax"))
    assert DKClipConfig().nrm_norm == "minmax"
    low = 1 / (1 + 3 * math.e)  # Eq. 9's floor at N = 4
    assert float(default.min()) == pytest.approx(low, abs=1e-3) and low < 0.15
    assert keep_mask(default, 0.15).sum() == 3  # one of four alike snippets erased


def test_none_keeps_alike_snippets_and_erases_an_outlier() -> None:
    video, snippets = _alike()
    alike = snippet_scores(video, snippets, scale=14.55, norm="none")
    torch.testing.assert_close(alike, torch.full((1, 4), 0.25), atol=0.01, rtol=0)
    assert bool(keep_mask(alike, 0.15).all())
    outlier = snippets.clone()
    outlier[0, 2] = torch.tensor([0.0, 1.0])  # 90 degrees off: a noisy snippet
    scores = snippet_scores(video, outlier, scale=14.55, norm="none")
    assert keep_mask(scores, 0.15)[0].tolist() == [True, True, False, True]


def test_zscore_by_hand() -> None:
    video = torch.tensor([[1.0, 0.0]])
    snippets = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # cos 1 and 0
    z = snippet_scores(video, snippets, scale=10.0, norm="zscore")  # sims 10, 0 -> z = +1, -1
    torch.testing.assert_close(z, torch.softmax(torch.tensor([[1.0, -1.0]]), dim=1), atol=1e-5, rtol=0)
    torch.testing.assert_close(z.sum(dim=1), torch.ones(1))
    one = snippet_scores(video, snippets[:, :1], scale=10.0, norm="zscore")
    torch.testing.assert_close(one, torch.ones(1, 1))


def test_unknown_normalisations_are_refused() -> None:
    video, snippets = _alike()
    with pytest.raises(ValueError, match="norm must be one of"):
        snippet_scores(video, snippets, 1.0, norm="l2")
    with pytest.raises(ConfigError, match="nrm_norm must be"):
        DKClipConfig(nrm_norm="l2")  # type: ignore[arg-type]


def test_the_model_reads_the_option_at_every_forward() -> None:
    import dkclip

    model = dkclip.create_model("dkclip-tiny", num_frames=4, eval_num_frames=4)
    video = torch.randn(2, 4, 3, model.config.image_size, model.config.image_size)
    with torch.no_grad():
        minmax = model(video).snippet_scores
        model.config.nrm_norm = "none"
        none = model(video).snippet_scores
    assert float(minmax.min()) >= 1 / (1 + 3 * math.e) - 1e-4
    assert not torch.allclose(minmax, none)
