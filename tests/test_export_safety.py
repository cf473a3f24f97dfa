"""``dkclip export`` / :func:`dkclip.save_model` write the weights and the config as one set: an interrupted or
failed save leaves the previous export whole, and no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dkclip
from dkclip.factory import CONFIG_NAME, WEIGHTS_NAME


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("stop", [KeyboardInterrupt, OSError])
def test_an_interrupted_save_keeps_the_previous_export(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       stop: type[BaseException]) -> None:
    torch.manual_seed(0)
    first = dkclip.create_model("dkclip-tiny", nrm_theta=0.2)
    dkclip.save_model(first, tmp_path / "export")
    before = _files(tmp_path / "export")
    assert set(before) == {WEIGHTS_NAME, CONFIG_NAME}

    second = dkclip.create_model("dkclip-tiny", nrm_theta=0.3)
    import safetensors.torch

    real = safetensors.torch.save_file

    def save_then_stop(*args: object, **kwargs: object) -> None:
        real(*args, **kwargs)  # the new weights are complete on disk (under a temporary name) ...
        raise stop()  # ... when the stop comes, before the config is written

    monkeypatch.setattr(safetensors.torch, "save_file", save_then_stop)
    with pytest.raises(stop):
        dkclip.save_model(second, tmp_path / "export")
    assert _files(tmp_path / "export") == before  # the old set, whole; no temporary file
    assert dkclip.load_model(tmp_path / "export").config.nrm_theta == pytest.approx(0.2)

    monkeypatch.setattr(safetensors.torch, "save_file", real)
    dkclip.save_model(second, tmp_path / "export")
    assert dkclip.load_model(tmp_path / "export").config.nrm_theta == pytest.approx(0.3)
    assert set(_files(tmp_path / "export")) == {WEIGHTS_NAME, CONFIG_NAME}
