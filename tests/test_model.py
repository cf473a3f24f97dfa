"""DK-CLIP forward pass: parity with CLIP, snippet locality, NRM rules, shapes, input checks and gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import dkclip
from dkclip.clip_loading import build_clip
from dkclip.model.nrm import keep_mask, snippet_scores
from video_helpers import random_video


def test_avgpool_equals_open_clip_encode_image(tiny_arch: dict, tiny_clip_file: Path) -> None:
    clip = build_clip(tiny_arch).eval()
    clip.load_state_dict(torch.load(tiny_clip_file, weights_only=True))
    model = dkclip.create_model("dkclip-tiny", clip_weights=tiny_clip_file, temporal="avgpool").eval()
    video = random_video(batch=2, frames=8)
    with torch.no_grad():
        out = model(video)
        expected = clip.encode_image(video.flatten(0, 1)).view(2, 8, -1).mean(dim=1)
    rel = (out.video_embedding - expected).norm() / expected.norm()
    assert rel < 1e-4, float(rel)


def test_snippets_are_independent_in_the_cfam() -> None:
    model = dkclip.create_model("dkclip-tiny").eval()
    video = random_video(batch=1, frames=16)
    changed = video.clone()
    changed[:, 8:12] = torch.randn_like(changed[:, 8:12])  # snippet 2 of 4
    with torch.no_grad():
        a, b = model(video), model(changed)
    others = [0, 1, 3]
    torch.testing.assert_close(a.snippet_embeddings[:, others], b.snippet_embeddings[:, others],
                               rtol=1e-5, atol=1e-5)
    assert not torch.allclose(a.snippet_embeddings[:, 2], b.snippet_embeddings[:, 2], atol=1e-3)
    # The global feature sees every snippet through the MSIM.
    assert not torch.allclose(a.video_embedding, b.video_embedding, atol=1e-4)


def test_cross_frame_mode_mixes_all_frames() -> None:
    # Table 5 c: messages span the whole clip, so changing one snippet reaches the others: the contrast case.
    model = dkclip.create_model("dkclip-tiny", temporal="cross_frame").eval()
    video = random_video(batch=1, frames=16)
    changed = video.clone()
    changed[:, 8:12] = torch.randn_like(changed[:, 8:12])
    with torch.no_grad():
        a, b = model(video), model(changed)
    assert not torch.allclose(a.snippet_embeddings[:, 0], b.snippet_embeddings[:, 0], atol=1e-5)


@pytest.mark.parametrize(("frames", "snippets"), [(16, 4), (16, 2), (8, 4)])
def test_output_shapes(frames: int, snippets: int) -> None:
    model = dkclip.create_model("dkclip-tiny", num_frames=frames, num_snippets=snippets).eval()
    with torch.no_grad():
        out = model(random_video(batch=3, frames=frames))
    k, e = 7, model.config.embed_dim
    assert out.logits.shape == (3, k)
    assert out.local_logits.shape == (3, snippets, k)
    assert out.fused_local_logits.shape == (3, k)
    assert out.snippet_scores.shape == (3, snippets)
    assert out.kept.shape == (3, snippets) and out.kept.dtype == torch.bool
    assert out.video_embedding.shape == (3, e)
    assert out.snippet_embeddings.shape == (3, snippets, e)
    assert out.visual_tokens.shape == (3, 49, e)
    torch.testing.assert_close(out.snippet_scores.sum(dim=1), torch.ones(3))


def test_hierarchical_model_accepts_other_clip_lengths() -> None:
    # Trained with T=16, N=4; the MSIM works on N snippets, so T=4 (one frame per snippet) or 32 also run.
    model = dkclip.create_model("dkclip-tiny").eval()
    with torch.no_grad():
        for frames in (4, 32):
            assert model(random_video(batch=1, frames=frames)).local_logits.shape == (1, 4, 7)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((16, 3, 112, 112), "got \\(16, 3, 112, 112\\)"),
        ((1, 15, 3, 112, 112), "got T = 15"),
        ((1, 16, 3, 96, 96), "wrong channels or resolution"),
        ((1, 16, 1, 112, 112), "wrong channels or resolution"),
    ],
)
def test_bad_input_shapes(shape: tuple[int, ...], message: str) -> None:
    model = dkclip.create_model("dkclip-tiny")
    with pytest.raises(ValueError, match=r"expected a float video tensor of shape \(B, T, 3, 112, 112\)") as err:
        model(torch.zeros(shape))
    assert err.match(message)


def test_fixed_length_modes_require_exact_t() -> None:
    model = dkclip.create_model("dkclip-tiny", temporal="transformer")
    with pytest.raises(ValueError, match="with T = 16; got T = 8"):
        model(torch.zeros(1, 8, 3, 112, 112))


def test_nrm_rules_on_random_scores() -> None:
    gen = torch.Generator().manual_seed(0)
    video = torch.randn(512, 32, generator=gen)
    snippets = torch.randn(512, 4, 32, generator=gen)
    scores = snippet_scores(video, snippets, scale=100.0)
    kept = keep_mask(scores, theta=0.15)
    best = scores.argmax(dim=1)
    assert kept[torch.arange(512), best].all()
    assert torch.equal(kept, (scores >= 0.15) | F.one_hot(best, 4).bool())
    assert (~kept).any(), "with random snippets some must be erased"
    # Bounds from docs/method.md §1.7 for N = 4: the best snippet has a* in [0.30, 0.475].
    top = scores.max(dim=1).values
    assert top.min() >= 0.30 - 1e-4 and top.max() <= 0.4754


def test_nrm_threshold_above_uniform_keeps_only_argmax() -> None:
    scores = torch.tensor([[0.1, 0.2, 0.3, 0.4]])
    assert keep_mask(scores, theta=0.9).tolist() == [[False, False, False, True]]


def test_identical_frames_give_finite_outputs() -> None:
    model = dkclip.create_model("dkclip-tiny").eval()
    frame = torch.randn(1, 1, 3, 112, 112)
    with torch.no_grad():
        out = model(frame.expand(2, 16, -1, -1, -1).contiguous())
    for name, value in out.to_dict().items():
        if value is not None and value.is_floating_point():
            assert torch.isfinite(value).all(), name
    assert out.kept.all()
    torch.testing.assert_close(out.snippet_scores, torch.full((2, 4), 0.25))


def test_visual_tokens_are_the_mean_over_kept_snippets() -> None:
    model = dkclip.create_model("dkclip-tiny").eval()
    video = random_video(batch=4, frames=16, seed=3)
    with torch.no_grad():
        out = model(video)
        _, patches = model.visual(video.flatten(0, 1), 4)
        tokens = model.prompt_visual_ln(patches) @ model.prompt_visual_proj  # (B*T, P, E)
        tokens = tokens.view(4, 4, 4, *tokens.shape[1:])  # (B, N, F, P, E)
    assert (~out.kept).any(), "the check must cover erased snippets"
    for b in range(4):
        kept = [n for n in range(4) if out.kept[b, n]]
        expected = tokens[b, kept].flatten(0, 1).mean(dim=0)
        torch.testing.assert_close(out.visual_tokens[b], expected, rtol=1e-4, atol=1e-5)


def test_logits_use_the_fixed_clip_scale_and_fusion_weights() -> None:
    model = dkclip.create_model("dkclip-tiny").eval()
    assert model.logit_scale == 100.0
    with torch.no_grad():
        out = model(random_video(batch=2))
    v = F.normalize(out.video_embedding, dim=-1)
    torch.testing.assert_close(out.logits, 100 * torch.einsum("be,bke->bk", v, out.text_features))
    weights = out.snippet_scores * out.kept
    torch.testing.assert_close(out.fused_local_logits, torch.einsum("bn,bnk->bk", weights, out.local_logits))


def test_probability_fusion_is_a_distribution() -> None:
    model = dkclip.create_model("dkclip-tiny", fuse_level="prob").eval()
    with torch.no_grad():
        out = model(random_video(batch=2))
    torch.testing.assert_close(out.fused_local_logits.exp().sum(dim=1), torch.ones(2))


def test_batch_elements_do_not_interact() -> None:
    model = dkclip.create_model("dkclip-tiny").eval()
    video = random_video(batch=3)
    with torch.no_grad():
        together = model(video)
        alone = model(video[1:2])
    torch.testing.assert_close(together.logits[1:2], alone.logits, rtol=1e-4, atol=1e-4)
    assert torch.equal(together.kept[1:2], alone.kept)


def test_ablation_switches() -> None:
    video = random_video(batch=2)
    plain = dkclip.create_model("dkclip-tiny", use_cmam=False, use_nrm=False).eval()
    with torch.no_grad():
        out = plain(video)
    assert out.visual_tokens is None and out.kept.all()
    text = F.normalize(plain.text(), dim=-1)
    torch.testing.assert_close(out.text_features, text.expand(2, -1, -1))
    assert not any(n.startswith(("cmam.", "prompt_visual")) for n, _ in plain.named_parameters())
    avg = dkclip.create_model("dkclip-tiny", temporal="avgpool")
    assert avg.temporal is None and avg.visual.messages is None
    hier = dkclip.create_model("dkclip-tiny")
    assert hier.temporal.length == 4 and len(hier.visual.messages) == 6
    frames = dkclip.create_model("dkclip-tiny", temporal="transformer")
    assert frames.temporal.length == 16 and frames.visual.messages is None


def test_gradients_reach_every_trainable_module_and_not_the_text_encoder() -> None:
    model = dkclip.create_model("dkclip-tiny", coop_context_tokens=4).train()
    out = model(random_video(batch=2))
    loss = dkclip.losses.DKClipLoss()(out, torch.tensor([0, 3]))
    loss.total.backward()
    for name, param in model.named_parameters():
        if name.startswith("text.") and name != "text.context":
            assert not param.requires_grad and param.grad is None, name
        else:
            assert param.requires_grad, name
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_text_features_are_cached_and_refreshed() -> None:
    model = dkclip.create_model("dkclip-tiny")
    first = model.text()
    assert model.text() is first  # cached
    assert not first.requires_grad
    model.set_prompts(["a", "b", "c"], ["x", "y", "z"])
    assert model.text().shape == (3, model.config.embed_dim)
    with torch.no_grad():
        assert model(random_video(batch=1)).logits.shape == (1, 3)
    cached = model.text()
    with torch.no_grad():
        model.text.ln_final.weight.mul_(2.0)
    model.load_state_dict(model.state_dict())  # loading weights invalidates the cache
    assert not torch.allclose(model.text(), cached)


def test_coop_context_changes_the_text_features() -> None:
    model = dkclip.create_model("dkclip-tiny", coop_context_tokens=4)
    before = model.text().detach().clone()
    with torch.no_grad():
        model.text.context.add_(0.5)
    assert not torch.allclose(model.text(), before)
    assert model.text.context.shape == (7, 4, model.text.token_embedding.weight.shape[1])


def test_gradient_checkpointing_matches() -> None:
    torch.manual_seed(0)
    base = dkclip.create_model("dkclip-tiny").train()
    ckpt = dkclip.create_model("dkclip-tiny", grad_checkpointing=True).train()
    ckpt.load_state_dict(base.state_dict())
    video = random_video(batch=1)
    for model in (base, ckpt):
        model(video).logits.sum().backward()
    torch.testing.assert_close(base.visual.conv1.weight.grad, ckpt.visual.conv1.weight.grad,
                               rtol=1e-4, atol=1e-6)


def test_frozen_patch_embedding_option() -> None:
    model = dkclip.create_model("dkclip-tiny", freeze_patch_embed=True)
    assert not model.visual.conv1.weight.requires_grad
