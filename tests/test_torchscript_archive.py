"""OpenAI-style TorchScript archives are read as data: the weights load, and nothing in the archive runs."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import pytest
import torch
from torch import Tensor

import dkclip
from dkclip.clip_loading import build_clip, read_state_dict
from dkclip.errors import CheckpointError
from dkclip.torchscript_archive import read_torchscript_weights


@pytest.fixture(scope="module")
def openai_layout_archive(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Tensor]]:
    """A scripted fp16 CLIP with OpenAI's extra non-weight entries, as OpenAI distributes them."""
    torch.manual_seed(0)
    clip = build_clip(dkclip.get_model_config("dkclip-tiny").clip).eval()
    for name, value in (("input_resolution", 112), ("context_length", 77), ("vocab_size", 49408)):
        if hasattr(clip, name):
            delattr(clip, name)
        clip.register_buffer(name, torch.tensor(value))
    path = tmp_path_factory.mktemp("ts") / "ViT-tiny.pt"
    torch.jit.save(torch.jit.script(clip.half()), str(path))
    return path, {k: v.clone() for k, v in clip.state_dict().items()}


def test_real_archive_loads_without_torch_jit(openai_layout_archive: tuple[Path, dict[str, Tensor]],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path, reference = openai_layout_archive

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("torch.jit.load must not be called")

    monkeypatch.setattr(torch.jit, "load", forbidden)
    tensors, plain = read_torchscript_weights(path)
    assert set(tensors) - set(reference) == {"attn_mask"}  # a non-persistent buffer, a plain attribute there
    assert all(torch.equal(tensors[k], reference[k]) and tensors[k].dtype == reference[k].dtype for k in reference)
    assert plain["training"] is False
    model = dkclip.create_model("dkclip-tiny", clip_weights=path)
    assert torch.equal(model.visual.conv1.weight, reference["visual.conv1.weight"].float())


def test_trusting_torchscript_is_explicit(openai_layout_archive: tuple[Path, dict[str, Tensor]],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    path, reference = openai_layout_archive
    calls = []
    real = torch.jit.load

    def spy(*args: object, **kwargs: object) -> object:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.jit, "load", spy)
    read_state_dict(path)
    assert not calls
    state = read_state_dict(path, trust_torchscript=True)
    assert len(calls) == 1 and torch.equal(state["visual.proj"], reference["visual.proj"])


SETSTATE_RUNS = "dkclip-test: the archive's __setstate__ runs"


class _LoopsOnLoad(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))

    @torch.jit.export
    def __getstate__(self) -> tuple[Tensor, bool]:
        return (self.weight, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[Tensor, bool]) -> None:
        # TorchScript's print (of SETSTATE_RUNS: a script sees no globals): on the loader's stdout, before the loop
        print("dkclip-test: the archive's __setstate__ runs")
        i = 0
        while i >= 0:  # never ends: torch.jit.load runs this while loading
            i += 1
        self.weight = state[0]
        self.training = state[1]

    def forward(self, x: Tensor) -> Tensor:
        return x * self.weight


class _Holder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(3, 2)
        self.trap = _LoopsOnLoad()

    def forward(self, x: Tensor) -> Tensor:
        return self.proj(self.trap(x))


def test_an_archive_whose_setstate_loops_is_not_run(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "loops.pt"
    torch.jit.save(torch.jit.script(_Holder()), str(path))
    # Proof that the archive is hostile: torch.jit.load runs its __setstate__ (which says so on stdout before
    # its endless loop) and does not come back (a bounded subprocess, killed once this is seen).
    proc = subprocess.Popen([sys.executable, "-c", f"import torch; torch.jit.load({str(path)!r})"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    guard = threading.Timer(120, proc.kill)  # a stdout that never comes must not hang the suite
    guard.start()
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == SETSTATE_RUNS
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1)  # still in the loop
    finally:
        guard.cancel()
        proc.kill()
        proc.communicate()
    capfd.readouterr()
    started = time.perf_counter()
    tensors, _ = read_torchscript_weights(path)
    assert time.perf_counter() - started < 5
    assert set(tensors) == {"proj.weight", "proj.bias"}  # the trap's state is opaque data, never interpreted
    assert SETSTATE_RUNS not in capfd.readouterr().out  # and its code never ran


class _WritesAFile:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.target), "w"))


def test_an_archive_whose_pickle_calls_code_is_refused(openai_layout_archive: tuple[Path, dict[str, Tensor]],
                                                       tmp_path: Path) -> None:
    source, _ = openai_layout_archive
    crafted = tmp_path / "crafted.pt"
    target = tmp_path / "pwned.txt"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(crafted, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename.endswith("/data.pkl"):
                data = pickle.dumps(_WritesAFile(target), protocol=2)
            zout.writestr(item, data)
    with pytest.raises(CheckpointError, match=r"names (builtins|io|_io)\.open, .*refusing"):
        dkclip.create_model("dkclip-tiny", clip_weights=crafted)
    assert not target.exists()


def test_a_damaged_archive_is_a_clean_error(openai_layout_archive: tuple[Path, dict[str, Tensor]],
                                            tmp_path: Path) -> None:
    source, _ = openai_layout_archive
    broken = tmp_path / "broken.pt"
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(broken, "w") as zout:
        for item in zin.infolist():
            if "/data/" in item.filename and item.filename.endswith("/0"):
                continue  # one storage missing
            zout.writestr(item, zin.read(item.filename))
    with pytest.raises(CheckpointError, match=r"damaged TorchScript archive .*storage 0 is missing"):
        read_torchscript_weights(broken)
