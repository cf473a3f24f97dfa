"""The released code's network as options (docs/method.md §1.4-1.5, §6.1 D1/D2): the frozen random
``visual_semantic`` CMAM source, the frozen MSIM, the code's initialisation; and the defaults they leave alone."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

import dkclip
from dkclip.engine.builders import build_model
from dkclip.engine.run_config import load_config
from dkclip.errors import ConfigError
from video_helpers import random_video

# Parameter names, shapes and trainable flags of the default models, as before the options existed.
DEFAULT_PARAMS = {
    "dkclip-tiny": ("ebdef7af04fe8a17", 11_729_472),
    "dkclip-vit-b-16": ("2401b5db6c76759e", 194_927_104),
}


def _digest(model: torch.nn.Module) -> tuple[str, int]:
    rows = "\n".join(f"{n} {tuple(p.shape)} {p.requires_grad}" for n, p in model.named_parameters())
    return hashlib.sha256(rows.encode()).hexdigest()[:16], sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(DEFAULT_PARAMS))
def test_default_models_are_unchanged(name: str) -> None:
    with torch.device("meta"):  # shapes only: no weights drawn
        model = dkclip.create_model(name)
    assert model.visual_semantic is None
    assert model.config.cmam_visual_source == "cfam_patches" and model.config.init_style == "default"
    assert _digest(model) == DEFAULT_PARAMS[name]


def _authors_model(**kw: object) -> dkclip.DKClip:
    return dkclip.create_model("dkclip-tiny", cmam_visual_source="visual_semantic", init_style="authors_code", **kw)


def test_visual_semantic_structure_and_frozen_flags() -> None:
    model = _authors_model()
    vs = model.visual_semantic
    assert vs is not None
    width, tokens, layers = model.visual.width, model.visual.positional_embedding.shape[0], model.visual.num_layers
    params = dict(vs.named_parameters())
    assert params["class_embedding"].shape == (width,)
    assert params["positional_embedding"].shape == (tokens, width)  # 1 + P, as the CFAM's
    # Every block has CLIP's block parameters (as under visual.transformer) and the CFAM's message modules.
    clip_block = {n: p.shape for n, p in model.visual.transformer.resblocks.named_parameters()}
    vs_block = {n: p.shape for n, p in vs.transformer.resblocks.named_parameters()}
    assert vs_block == clip_block
    cfam_msg = {n: p.shape for n, p in model.visual.messages.named_parameters()}
    assert {n: p.shape for n, p in vs.messages.named_parameters()} == cfam_msg
    assert len(vs.transformer.resblocks) == len(vs.messages) == layers
    expected = {"class_embedding", "positional_embedding", "ln_pre.weight", "ln_pre.bias",
                *(f"transformer.resblocks.{n}" for n in clip_block), *(f"messages.{n}" for n in cfam_msg)}
    assert set(params) == expected  # no conv1, ln_post or proj: the code's class output is dead
    assert not any(p.requires_grad for p in vs.parameters())
    in_groups = {id(p) for g in model.param_groups(2e-6, 1e-3) for p in g["params"]}
    assert not any(id(p) in in_groups for p in vs.parameters())
    # The default model's parameters are all still there, with the same shapes.
    default = dkclip.create_model("dkclip-tiny")
    ours = {n: p.shape for n, p in model.named_parameters()}
    assert all(ours[n] == p.shape for n, p in default.named_parameters())
    assert set(ours) - {n for n, _ in default.named_parameters()} == {f"visual_semantic.{n}" for n in params}
    with torch.device("meta"):
        b16 = dkclip.create_model("dkclip-vit-b-16", cmam_visual_source="visual_semantic")
    assert sum(p.numel() for p in b16.visual_semantic.parameters()) == 120_662_016  # SPEC §1.12: ≈ 121M


def test_visual_semantic_feeds_the_cmam_and_passes_gradients_to_the_cfam() -> None:
    model = _authors_model().train()
    seen: dict[str, torch.Tensor] = {}
    model.visual.register_forward_hook(lambda m, i, o: seen.__setitem__("patches", o[1]))
    model.visual_semantic.register_forward_hook(lambda m, i, o: seen.update(vs_in=i[0], vs_out=o))
    model.cmam.register_forward_hook(lambda m, i, o: seen.__setitem__("cmam_visual", i[1]))
    batch, frames, n = 2, 8, model.config.num_snippets
    out = model(random_video(batch=batch, frames=frames))
    # Its input: the CFAM's patch tokens averaged over the F frames of each snippet, clip-major (B·N, P, D).
    patches = seen["patches"]
    means = patches.view(batch, n, frames // n, *patches.shape[1:]).mean(dim=2).flatten(0, 1)
    torch.testing.assert_close(seen["vs_in"], means)
    # Its output, LN'd, averaged over the kept snippets and projected, is what the CMAM attends to.
    tokens = model.prompt_visual_ln(seen["vs_out"]).view(batch, n, *means.shape[1:])
    kept = out.kept.to(tokens.dtype)
    mean = torch.einsum("bn,bnpd->bpd", kept / kept.sum(dim=1, keepdim=True), tokens)
    torch.testing.assert_close(seen["cmam_visual"], mean @ model.prompt_visual_proj)
    torch.testing.assert_close(out.visual_tokens, seen["cmam_visual"])
    # The CMAM's tokens reach the CFAM only through visual_semantic: its weights get no gradient, the CFAM does.
    out.visual_tokens.square().sum().backward()
    assert all(p.grad is None for p in model.visual_semantic.parameters())
    for name in ("conv1.weight", "transformer.resblocks.0.attn.in_proj_weight", "messages.0.message_fc.weight"):
        grad = model.visual.get_parameter(name).grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_visual_semantic_keeps_clips_apart() -> None:
    model = _authors_model().eval()
    video = random_video(batch=2, frames=4)
    with torch.no_grad():
        together, alone = model(video), model(video[1:2])
    torch.testing.assert_close(together.visual_tokens[1:2], alone.visual_tokens, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_visual_semantic_checkpoints_exactly() -> None:
    video = random_video(batch=1, frames=4)
    plain, ckpt = _authors_model().train(), _authors_model().train()
    ckpt.load_state_dict(plain.state_dict())
    ckpt.set_grad_checkpointing(True)
    assert ckpt.visual_semantic.grad_checkpointing
    for m in (plain, ckpt):
        m(video).visual_tokens.sum().backward()
    torch.testing.assert_close(plain.visual.conv1.weight.grad, ckpt.visual.conv1.weight.grad, rtol=1e-4, atol=1e-6)


def test_saved_model_rebuilds_visual_semantic(tmp_path: Path) -> None:
    model = _authors_model().eval()
    dkclip.save_model(model, tmp_path / "export")
    loaded = dkclip.load_model(tmp_path / "export").eval()
    assert loaded.visual_semantic is not None and not any(p.requires_grad for p in loaded.visual_semantic.parameters())
    video = random_video(batch=1, frames=4)
    with torch.no_grad():
        torch.testing.assert_close(loaded(video).logits, model(video).logits)


def test_initialisation_styles() -> None:
    default, authors = dkclip.create_model("dkclip-tiny"), _authors_model()
    width, embed = default.visual.width, default.config.embed_dim
    assert default.prompt_visual_proj.std().item() == pytest.approx(width**-0.5, rel=0.05)
    assert authors.prompt_visual_proj.std().item() == pytest.approx(1.0, rel=0.05)  # randn, as the code
    # MSIM attention: in-projection trunc-normal(0.02) here, PyTorch's xavier-uniform in the code; the
    # out-projection is a Linear, trunc-normal(0.02) in both.
    bound = (6 / (embed + 3 * embed)) ** 0.5
    ours, theirs = default.temporal.blocks[0].attn, authors.temporal.blocks[0].attn
    assert ours.in_proj_weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert theirs.in_proj_weight.abs().max() <= bound
    assert theirs.in_proj_weight.std().item() == pytest.approx(bound / 3**0.5, rel=0.05)
    for attn in (ours, theirs):
        assert attn.out_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
        assert not attn.in_proj_bias.any()
    # visual_semantic: D^-1/2 · randn embeddings, PyTorch-default blocks.
    vs = authors.visual_semantic
    assert vs.positional_embedding.std().item() == pytest.approx(width**-0.5, rel=0.05)
    block = vs.transformer.resblocks[0]
    assert block.attn.in_proj_weight.abs().max() <= (6 / (4 * width)) ** 0.5
    assert torch.equal(block.ln_1.weight, torch.ones(width)) and block.mlp.c_fc.bias.abs().max() <= width**-0.5


def test_frozen_msim_passes_gradients_and_leaves_the_optimiser() -> None:
    model = dkclip.create_model("dkclip-tiny").freeze_msim().train()
    assert not any(p.requires_grad for p in model.temporal.parameters())
    in_groups = {id(p) for g in model.param_groups(2e-6, 1e-3) for p in g["params"]}
    assert not any(id(p) in in_groups for p in model.temporal.parameters())
    model(random_video(batch=1, frames=4)).logits.sum().backward()
    assert all(p.grad is None for p in model.temporal.parameters())
    assert model.visual.messages[0].message_fc.weight.grad.abs().sum() > 0  # reached through the frozen MSIM
    model.freeze_msim(False)
    assert all(p.requires_grad for p in model.temporal.parameters())
    with pytest.raises(ValueError, match="no MSIM"):
        dkclip.create_model("dkclip-tiny", temporal="avgpool").freeze_msim()


def test_option_errors_name_the_field() -> None:
    with pytest.raises(ConfigError, match="cmam_visual_source"):
        dkclip.create_model("dkclip-tiny", cmam_visual_source="patches")
    with pytest.raises(ConfigError, match="use_cmam"):
        dkclip.create_model("dkclip-tiny", cmam_visual_source="visual_semantic", use_cmam=False)
    with pytest.raises(ConfigError, match="init_style"):
        dkclip.create_model("dkclip-tiny", init_style="paper")


@pytest.mark.parametrize("config", ["authors_code", "authors_code_vitb32"])
def test_authors_code_configs_use_every_switch(config: str) -> None:
    cfg = load_config(config)
    assert cfg.model.options["cmam_visual_source"] == "visual_semantic"
    assert cfg.model.options["init_style"] == "authors_code" and cfg.optim.freeze_msim
    assert cfg.model.name == {"authors_code": "dkclip-vit-b-16", "authors_code_vitb32": "dkclip-vit-b-32"}[config]
    for paper in ("dfew_vitb16", "dfew_vitb32"):
        base = load_config(paper)
        assert not base.optim.freeze_msim and not {"cmam_visual_source", "init_style"} & set(base.model.options)
    # The same switches on the tiny model, through the run-config path a training run takes.
    tiny = build_model(load_config(config, ["model.name=dkclip-tiny", "data.num_frames=8"]))
    assert tiny.visual_semantic is not None and tiny.config.init_style == "authors_code"
    assert not any(p.requires_grad for p in tiny.temporal.parameters())


def test_freeze_msim_is_a_run_config_key() -> None:
    with pytest.raises(ConfigError, match=r"optim\.freeze_msim"):
        build_model(load_config("dfew_vitb16", ["model.name=dkclip-tiny", "model.options.freeze_msim=true"]))
    with pytest.raises(ConfigError, match=r"optim\.freeze_msim"):
        load_config("dfew_vitb16", ["optim.freeze_msim=true", "model.options.temporal=avgpool"])
