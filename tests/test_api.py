"""Public API: registry, configs, prompts, parameter groups, save/load."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import dkclip
from dkclip.prompts import PROMPT_SETS, read_prompt_csv, resolve_prompts
from video_helpers import random_video


def test_registry_names() -> None:
    names = dkclip.list_models()
    for name in ("dkclip-vit-b-16", "dkclip-vit-b-32", "dkclip-vit-l-14", "dkclip-tiny"):
        assert name in names
        assert dkclip.get_model_config(name).name == name
    with pytest.raises(ValueError, match="unknown model 'dkclip-nope'"):
        dkclip.create_model("dkclip-nope")


def test_registered_architectures_match_openai_clip() -> None:
    b16 = dkclip.get_model_config("dkclip-vit-b-16")
    assert b16.clip["vision_cfg"]["patch_size"] == 16 and b16.clip["embed_dim"] == 512 and b16.clip["quick_gelu"]
    assert dkclip.get_model_config("dkclip-vit-b-32").clip["vision_cfg"]["patch_size"] == 32
    l14 = dkclip.get_model_config("dkclip-vit-l-14").clip
    assert (l14["vision_cfg"]["width"], l14["vision_cfg"]["layers"], l14["embed_dim"]) == (1024, 24, 768)
    assert b16.num_frames == 16 and b16.num_snippets == 4 and b16.nrm_theta == 0.15


def test_config_json_round_trip_and_errors() -> None:
    model = dkclip.create_model("dkclip-tiny", prompts="mafw", nrm_theta=0.2, temporal="cross_frame")
    text = model.config.to_json()
    again = dkclip.DKClipConfig.from_json(text)
    assert again == model.config and again.num_classes == 11 and again.class_names[7] == "contempt"
    with pytest.raises(ValueError, match=r"unknown DK-CLIP config keys: \['thetaa'\]"):
        dkclip.DKClipConfig.from_dict({**model.config.to_dict(), "thetaa": 1})
    with pytest.raises(ValueError, match="multiple of num_snippets"):
        model.config.replace(num_frames=10)
    with pytest.raises(ValueError, match="temporal must be one of"):
        model.config.replace(temporal="lstm")


def test_save_and_load_model_round_trip(tmp_path: Path) -> None:
    model = dkclip.create_model("dkclip-tiny", prompts="dfew_classnames").eval()
    dkclip.save_model(model, tmp_path / "export")
    assert not list((tmp_path / "export").glob("*.tmp"))
    loaded = dkclip.load_model(tmp_path / "export").eval()
    assert loaded.config == model.config
    video = random_video(batch=1)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video).logits, model(video).logits)


def test_param_groups() -> None:
    model = dkclip.create_model("dkclip-tiny", coop_context_tokens=2)
    groups = model.param_groups(base_lr=2e-6, weight_decay=1e-3)
    by_id = {id(p): g for g in groups for p in g["params"]}
    names = dict(model.named_parameters())
    trainable = {n for n, p in names.items() if p.requires_grad}
    assert len(by_id) == len(trainable) == sum(len(g["params"]) for g in groups)

    def group(name: str) -> dict:
        return by_id[id(names[name])]

    assert group("visual.transformer.resblocks.0.attn.in_proj_weight")["lr"] == 2e-6
    assert group("visual.transformer.resblocks.0.attn.in_proj_weight")["weight_decay"] == 1e-3
    assert group("visual.conv1.weight")["lr"] == 2e-6
    for new in ("visual.messages.0.message_fc.weight", "temporal.blocks.0.attn.in_proj_weight",
                "cmam.layers.0.cross_attn.q_proj.weight", "prompt_visual_proj"):
        assert group(new)["lr"] == pytest.approx(2e-5) and group(new)["weight_decay"] == 1e-3, new
    for no_decay in ("visual.positional_embedding", "visual.class_embedding", "temporal.positional_embedding",
                     "cmam.gamma", "visual.ln_pre.weight", "cmam.layers.0.mlp.c_fc.bias", "text.context"):
        assert group(no_decay)["weight_decay"] == 0.0, no_decay
    assert not any(n.startswith("text.") and n != "text.context" for n in trainable)


def test_prompt_sets() -> None:
    assert len(PROMPT_SETS["dfew"]) == 7 and len(PROMPT_SETS["mafw"]) == 11
    assert PROMPT_SETS["dfew"][0] == "happiness with cheek raiser and lip corner puller or part"
    assert PROMPT_SETS["dfew"] == PROMPT_SETS["ferv39k"]
    assert PROMPT_SETS["dfew_paper"][0] == "Happiness with cheek raiser, lip corner puller or lip part."
    assert PROMPT_SETS["dfew_paper"][2] == "Neutral."
    assert all(" or " not in p for p in PROMPT_SETS["dfew_and"])
    assert PROMPT_SETS["dfew_and"][1] == (
        "sadness with inner brow raiser and brow lowerer and lip corner depressor and chin raiser")
    assert PROMPT_SETS["mafw_classnames"][-1] == "disappointment"
    assert resolve_prompts(["a smile", "a frown"]) == ["a smile", "a frown"]
    with pytest.raises(ValueError, match="unknown prompt set 'dfw'"):
        resolve_prompts("dfw")


def test_prompt_csv(tmp_path: Path) -> None:
    good = tmp_path / "labels.csv"
    good.write_text("id,name\n1,sad face\n0,happy face, smiling\n")
    assert read_prompt_csv(good) == ["happy face, smiling", "sad face"]
    model = dkclip.create_model("dkclip-tiny", prompts=good)
    assert model.num_classes == 2
    bad = tmp_path / "bad.csv"
    bad.write_text("id,name\n0,happy\nx,sad\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: class id 'x' is not an integer"):
        read_prompt_csv(bad)
    gap = tmp_path / "gap.csv"
    gap.write_text("0,happy\n2,sad\n")
    with pytest.raises(ValueError, match=r"class ids must be 0\.\.1"):
        read_prompt_csv(gap)
    with pytest.raises(ValueError, match="longer than the text context"):
        dkclip.create_model("dkclip-tiny", prompts=["word " * 100])


def test_atomic_writes_leave_normal_permissions(tmp_path: Path) -> None:
    import os
    import stat

    from dkclip.fileio import atomic_write_json

    path = atomic_write_json(tmp_path / "r.json", {"a": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~mask
    assert not list(tmp_path.glob(".*.tmp"))
