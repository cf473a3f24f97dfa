"""CLIP checkpoints from local files: formats, round trips and mismatch errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import dkclip
from dkclip.clip_loading import build_clip, read_state_dict
from dkclip.errors import CheckpointError, CheckpointMismatchError


def _visual_state(model: dkclip.DKClip) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.startswith("visual.") and ".messages." not in k}


def test_pt_and_safetensors_round_trip(tiny_clip_file: Path, tmp_path: Path) -> None:
    reference = torch.load(tiny_clip_file, weights_only=True)
    st_path = tmp_path / "tiny.safetensors"
    save_file({k: v.contiguous() for k, v in reference.items()}, str(st_path))
    for path in (tiny_clip_file, st_path):
        model = dkclip.create_model("dkclip-tiny", clip_weights=path)
        for key, value in _visual_state(model).items():
            assert torch.equal(value, reference[key]), key
        assert torch.equal(model.text.token_embedding.weight, reference["token_embedding.weight"])
        assert torch.equal(model.text.text_projection, reference["text_projection"])


def test_wrapped_and_prefixed_state_dicts(tiny_clip_file: Path, tmp_path: Path) -> None:
    reference = torch.load(tiny_clip_file, weights_only=True)
    wrapped = tmp_path / "wrapped.bin"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in reference.items()}}, wrapped)
    model = dkclip.create_model("dkclip-tiny", clip_weights=wrapped)
    assert torch.equal(model.visual.conv1.weight, reference["visual.conv1.weight"])


def test_openai_style_torchscript_archive(tiny_arch: dict, tmp_path: Path) -> None:
    # OpenAI distributes TorchScript archives in fp16 with three extra non-weight entries.
    clip = build_clip(tiny_arch).eval()
    for name, value in (("input_resolution", 112), ("context_length", 77), ("vocab_size", 49408)):
        if hasattr(clip, name):
            delattr(clip, name)  # open_clip keeps these as plain attributes
        clip.register_buffer(name, torch.tensor(value))
    archive = tmp_path / "ViT-tiny.pt"
    torch.jit.save(torch.jit.script(clip.half()), str(archive))
    state = read_state_dict(archive)
    assert "input_resolution" not in state and state["visual.proj"].dtype == torch.float16
    model = dkclip.create_model("dkclip-tiny", clip_weights=archive)
    assert model.visual.proj.dtype == torch.float32
    assert torch.equal(model.visual.proj, clip.visual.proj.float())


def test_wrong_architecture_lists_mismatches(tiny_arch: dict, tmp_path: Path) -> None:
    other = dict(tiny_arch, vision_cfg=dict(tiny_arch["vision_cfg"], patch_size=8))
    path = tmp_path / "patch8.pt"
    torch.save(build_clip(other).state_dict(), path)
    with pytest.raises(CheckpointMismatchError) as err:
        dkclip.create_model("dkclip-tiny", clip_weights=path)
    text = str(err.value)
    assert "\n" not in text  # one line; the full list is in .details (the CLI shows it with --debug)
    assert str(path) in text and "shape mismatches" in text
    text += "\n".join(err.value.details)
    assert "visual.conv1.weight: checkpoint (192, 3, 8, 8) vs model (192, 3, 16, 16)" in text
    assert "patch 8" in text and "patch 16" in text


def test_missing_and_unexpected_keys_are_listed(tiny_clip_file: Path, tmp_path: Path) -> None:
    state = torch.load(tiny_clip_file, weights_only=True)
    del state["visual.ln_post.weight"]
    state["visual.extra_head.weight"] = torch.zeros(2)
    path = tmp_path / "broken.pt"
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"1 missing keys; 1 unexpected keys") as err:
        dkclip.create_model("dkclip-tiny", clip_weights=path)
    assert "1 missing keys: visual.ln_post.weight" in err.value.details
    assert "1 unexpected keys: visual.extra_head.weight" in err.value.details


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match=r"not found: .*nowhere\.pt"):
        dkclip.create_model("dkclip-tiny", clip_weights=tmp_path / "nowhere.pt")
    odd = tmp_path / "weights.ckpt"
    odd.write_bytes(b"x")
    with pytest.raises(ValueError, match=r"unsupported CLIP weights file type '\.ckpt'.*\.safetensors"):
        dkclip.create_model("dkclip-tiny", clip_weights=odd)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"junk\.pt"):
        dkclip.create_model("dkclip-tiny", clip_weights=junk)


def test_random_init_warns(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    with caplog.at_level(logging.WARNING, logger="dkclip"):
        dkclip.create_model("dkclip-tiny")
    assert "randomly initialised" in caplog.text
