"""Contrastive pretraining on synthetic AU-captioned frames: captions and a few training steps."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from dkclip.clip_loading import read_state_dict
from dkclip.pretrain.captions import EMOTION_WORDS, CaptionComposer
from dkclip.pretrain.trainer import PretrainConfig, pretrain
from dkclip.prompts import PROMPT_SETS
from dkclip.synth import ClipSpec, render_clip


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    """One torch thread for these small batches (as tests/ablation's grid): faster than two on a shared 2-core
    machine or under pytest-xdist, and nothing leaks into the tests after these."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _captions(seed: int, n_clips: int = 6) -> list[str]:
    composer = CaptionComposer()
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n_clips):
        _, truth = render_clip(ClipSpec(clip_id=str(i), label=i % 7, identity=i, num_frames=8, index=i, seed=5))
        out += [composer.compose(truth.aus[t], truth.noise[t], truth.appearance, rng) for t in range(8)]
    return out


def test_captions_are_deterministic_and_never_a_prompt() -> None:
    first, again, other = _captions(0), _captions(0), _captions(1)
    assert first == again and first != other
    prompts = {p.lower().rstrip(".") for ps in PROMPT_SETS.values() for p in ps}
    assert not prompts & {c.lower().rstrip(".") for c in first}
    joined = " ".join(first)
    assert "lip corner puller" in joined or "cheek raiser" in joined  # AU vocabulary of the prompts


def test_caption_content_follows_the_ground_truth() -> None:
    composer = CaptionComposer(p_emotion=1.0, p_appearance=0.0, p_au=1.0)
    _, truth = render_clip(ClipSpec(clip_id="s", label=4, identity=1, num_frames=16, index=3, seed=5), noise=False)
    apex = int(np.argmax(truth.envelope))
    text = composer.compose(truth.aus[apex], None, truth.appearance, np.random.default_rng(0))
    assert any(word in text for word in EMOTION_WORDS["surprise"]), text
    assert "jaw drop" in text and "upper lid raiser" in text
    dark = composer.compose(truth.aus[apex], "dark", truth.appearance, np.random.default_rng(0))
    assert dark.endswith(("dark", "underexposed", "dim"))


@pytest.mark.slow
def test_a_few_pretraining_steps_lower_the_loss(tmp_path: Path) -> None:
    cfg = PretrainConfig(out_dir=str(tmp_path / "pt"), steps=12, clips_per_batch=4, frames_per_clip=4,
                         lr=1e-3, warmup_steps=2, log_every=1, save_every=6, eval_every=100, workers=0)
    weights = pretrain(cfg)
    log = [json.loads(line) for line in (tmp_path / "pt" / "pretrain_log.jsonl").read_text().splitlines()]
    losses = [r["loss"] for r in log if "loss" in r]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    state = read_state_dict(weights)
    assert state["visual.conv1.weight"].dtype == torch.float16
    import dkclip

    model = dkclip.create_model("dkclip-tiny", clip_weights=weights)  # loads as CLIP weights
    assert torch.equal(model.visual.conv1.weight, state["visual.conv1.weight"].float())


def _tiny(tmp_path: Path, **kw: object) -> PretrainConfig:
    base = dict(out_dir=str(tmp_path / "pt"), steps=2, clips_per_batch=2, frames_per_clip=4, warmup_steps=0,
                log_every=1, save_every=1, eval_every=100, workers=0)
    return PretrainConfig(**{**base, **kw})


def test_resume_accepts_speed_settings_and_refuses_result_settings(tmp_path: Path) -> None:
    import pytest

    from dkclip.errors import ConfigError

    first = read_state_dict(pretrain(_tiny(tmp_path)))
    # Same run, other thread/worker/log settings: resumes at its last step and returns the same weights.
    again = read_state_dict(pretrain(_tiny(tmp_path, threads=1, log_every=5)))
    assert all(torch.equal(first[k], again[k]) for k in first)
    with pytest.raises(ConfigError, match=r"lr: saved 0\.0005, requested 0\.01"):
        pretrain(_tiny(tmp_path, lr=1e-2))


def test_warm_start_loads_the_given_weights(tmp_path: Path) -> None:
    from dkclip.pretrained import get_pretrained_cfg, verified_path

    shipped = verified_path(get_pretrained_cfg("dkclip-tiny", "synthclip"))
    out = read_state_dict(pretrain(_tiny(tmp_path, steps=1, lr=0.0, init_weights=str(shipped))))
    ref = read_state_dict(shipped)
    assert all(torch.equal(out[k], ref[k]) for k in ref)


def test_threads_apply_to_the_run_only(tmp_path: Path) -> None:
    """``threads`` is the run's torch thread count; the caller's count is back afterwards (it leaked before)."""
    import dkclip.pretrain.trainer as trainer

    seen: list[int] = []
    real = trainer._pretrain
    try:
        trainer._pretrain = lambda cfg: seen.append(torch.get_num_threads()) or real(cfg)  # type: ignore[assignment]
        pretrain(_tiny(tmp_path, steps=1, threads=3))
    finally:
        trainer._pretrain = real  # type: ignore[assignment]
    assert seen == [3] and torch.get_num_threads() == 1  # the fixture's setting


@pytest.mark.parametrize(("option", "value"), [("steps", 0), ("lr", float("nan")), ("lr", -1.0), ("log_every", 0),
                                               ("workers", -1), ("threads", -1), ("p_emotion", 2.0)])
def test_settings_out_of_range_name_the_flag(option: str, value: float) -> None:
    """Each was a traceback from inside torch (zero division, 'Invalid learning rate: nan', ...)."""
    from dkclip.errors import ConfigError

    flag = "--" + option.replace("_", "-")
    with pytest.raises(ConfigError, match=f"{option} \\({flag}\\)"):
        PretrainConfig(**{option: value})  # type: ignore[arg-type]
