"""Named pretrained weights: listed, verified against their SHA-256 on load, the deprecated alias, and
recognition of OpenAI's published CLIP files by hash."""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import pytest
import torch

import dkclip
from dkclip import pretrained
from dkclip.constants import CLIP_MEAN, IMAGENET_MEAN
from dkclip.errors import CheckpointMismatchError, ConfigError, UsageError, WeightsIntegrityError


def test_list_and_describe() -> None:
    assert ("dkclip-tiny", "synthclip") in dkclip.list_pretrained()
    assert dkclip.list_pretrained("dkclip-vit-b-16") == []
    cfg = pretrained.get_pretrained_cfg("dkclip-tiny", "synthclip")
    assert cfg.path.is_file() and cfg.path.stat().st_size == cfg.size and len(cfg.sha256) == 64
    assert cfg.license and "synthetic" in cfg.trained_on and cfg.image_mean == IMAGENET_MEAN
    with pytest.raises(ConfigError, match=r"unknown pretrained weights 'laion' for 'dkclip-tiny'.*synthclip"):
        pretrained.get_pretrained_cfg("dkclip-tiny", "laion")
    with pytest.raises(ConfigError, match="no CLIP weights are shipped for 'dkclip-vit-b-16'"):
        pretrained.default_tag("dkclip-vit-b-16")


def test_pretrained_tag_loads_the_shipped_clip_and_its_normalisation() -> None:
    model = dkclip.create_model("dkclip-tiny", pretrained="synthclip")
    ref = pretrained.verified_path(pretrained.get_pretrained_cfg("dkclip-tiny", "synthclip"))
    from dkclip.clip_loading import read_state_dict

    state = read_state_dict(ref)
    assert torch.equal(model.visual.conv1.weight, state["visual.conv1.weight"].float())
    assert model.config.image_mean == IMAGENET_MEAN
    override = dkclip.create_model("dkclip-tiny", pretrained="synthclip", image_mean=CLIP_MEAN)
    assert override.config.image_mean == CLIP_MEAN  # an explicit value wins over the tag's
    with pytest.raises(UsageError, match="not both"):
        dkclip.create_model("dkclip-tiny", pretrained="synthclip", clip_weights=ref)


def test_default_alias_still_works_with_a_deprecation_note(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="dkclip"), pytest.warns(DeprecationWarning, match="synthclip"):
        model = dkclip.create_model("dkclip-tiny", clip_weights="default")
    assert "deprecated" in caplog.text
    assert torch.equal(model.visual.conv1.weight, dkclip.create_model("dkclip-tiny", pretrained="synthclip")
                       .visual.conv1.weight)


def test_a_damaged_or_replaced_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = pretrained.get_pretrained_cfg("dkclip-tiny", "synthclip")
    copy = tmp_path / cfg.file
    shutil.copy(cfg.path, copy)
    monkeypatch.setattr(pretrained, "WEIGHTS_DIR", tmp_path)
    assert pretrained.verified_path(cfg) == copy
    data = bytearray(copy.read_bytes())
    data[-100] ^= 0xFF  # same size, one byte flipped
    copy.write_bytes(bytes(data))
    with pytest.raises(WeightsIntegrityError, match=r"SHA-256 .* differs from the registered"):
        dkclip.create_model("dkclip-tiny", pretrained="synthclip")
    copy.write_bytes(bytes(data[:-1]))
    with pytest.raises(WeightsIntegrityError, match="bytes, but dkclip-tiny/synthclip is 20005842 bytes"):
        pretrained.verified_path(cfg)
    copy.unlink()
    with pytest.raises(WeightsIntegrityError, match="missing from this installation"):
        pretrained.verified_path(dataclasses.replace(cfg))


def test_openai_files_are_recognised_by_hash(tiny_clip_file: Path, monkeypatch: pytest.MonkeyPatch,
                                             caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="dkclip"):
        dkclip.create_model("dkclip-tiny", clip_weights=tiny_clip_file)
    assert "is not one of OpenAI's published CLIP checkpoints" in caplog.text
    caplog.clear()
    # Pretend the file is OpenAI's ViT-B/16 (the real file is 335 MB; its hash is the published one).
    digest = pretrained.file_sha256(tiny_clip_file)
    table = dict(pretrained.OPENAI_CLIP_FILES)
    table[digest] = table.pop("5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f")
    monkeypatch.setattr(pretrained, "OPENAI_CLIP_FILES", table)
    with caplog.at_level(logging.INFO, logger="dkclip"):
        dkclip.create_model("dkclip-tiny", clip_weights=tiny_clip_file)
    assert "is OpenAI CLIP ViT-B/16" in caplog.text
    # ... so when it is given to a model it does not fit, the error says which model it is for.
    with pytest.raises(CheckpointMismatchError) as err:
        dkclip.create_model("dkclip-vit-b-32", clip_weights=tiny_clip_file)
    assert err.value.hint == "this file is for dkclip-vit-b-16"


def test_published_hashes_are_well_formed() -> None:
    for digest, (name, model) in pretrained.OPENAI_CLIP_FILES.items():
        assert len(digest) == 64 and int(digest, 16) >= 0 and name.startswith("OpenAI CLIP")
        assert model is None or model in dkclip.list_models()
