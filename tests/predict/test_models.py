"""The models ``dkclip predict`` runs by default: the shipped dkclip-tiny is the same model in every run."""

from __future__ import annotations

import torch

from dkclip.predict.models import default_model


def test_default_model_is_the_same_in_every_run_and_leaves_the_global_rng_alone() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    a = default_model().state_dict()
    after = torch.rand(3)
    b = default_model().state_dict()
    assert torch.equal(after, expected)  # the global random stream is not consumed
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not default_model().training
