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


def test_export_to_an_unusable_or_full_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import subprocess

    from dkclip.cli import main

    torch.manual_seed(0)
    dkclip.save_model(dkclip.create_model("dkclip-tiny"), tmp_path / "model")
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert main(["export", str(tmp_path / "model"), "--out", str(blocker / "out")]) == 1
    err = capsys.readouterr().err
    assert "a part of the path is a file, not a folder" in err and "Errno" not in err

    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        (small / "out").mkdir()
        (small / "out" / CONFIG_NAME).write_text("{}")  # an earlier export's file stays as it was
        assert main(["export", str(tmp_path / "model"), "--out", str(small / "out")]) == 1
        err = capsys.readouterr().err
        assert "no space left on the device" in err and "Errno" not in err, err
        assert sorted(p.name for p in (small / "out").iterdir()) == [CONFIG_NAME]
        assert (small / "out" / CONFIG_NAME).read_text() == "{}"
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
