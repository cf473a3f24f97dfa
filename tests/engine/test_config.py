"""Run configs: shipped YAMLs, inheritance, dotted overrides, and errors that name the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from dkclip.engine.run_config import ConfigError, list_configs, load_config


def test_shipped_configs_load_with_the_paper_recipe() -> None:
    assert {"dfew_vitb16", "dfew_vitb32", "ferv39k_vitb16", "mafw_vitb16", "authors_code",
            "synthetic_tiny"} <= set(list_configs())
    cfg = load_config("dfew_vitb16")
    assert cfg.model.name == "dkclip-vit-b-16"
    assert cfg.optim.lr == 2e-6 and cfg.optim.new_module_lr_mult == 10 and cfg.optim.weight_decay == 1e-3
    assert cfg.optim.betas == [0.9, 0.98]
    assert (cfg.schedule.epochs, cfg.schedule.warmup_epochs, cfg.schedule.effective_batch) == (50, 5, 32)
    assert cfg.schedule.min_lr_ratio == 0.01 and cfg.augment.label_smoothing == 0.1
    assert cfg.augment.mixup_alpha == 0.8 and cfg.augment.fmix_alpha == 1.0
    assert cfg.data.num_frames == 16 and cfg.model.options["nrm_theta"] == 0.15 and cfg.loss.lam == 1.0
    assert load_config("dfew_vitb32").model.name == "dkclip-vit-b-32"
    assert load_config("mafw_vitb16").model.prompts == "mafw"
    authors = load_config("authors_code")
    assert authors.optim.weight_decay == 1e-4 and authors.loss.kl_mode == "authors_code"
    assert authors.loss.active_epochs == [0, 14] and authors.eval.select == "test-max"
    assert authors.optim.lr == 2e-6  # inherited


def test_dotted_overrides_are_typed() -> None:
    cfg = load_config("dfew_vitb16", ["optim.lr=1e-5", "data.workers=2", "run.amp=fp32",
                                      "model.options.temporal=avgpool", "loss.active_epochs=[0, 14]",
                                      "model.clip_weights=null"])
    assert cfg.optim.lr == 1e-5 and isinstance(cfg.optim.lr, float)
    assert cfg.data.workers == 2 and cfg.run.amp == "fp32"
    assert cfg.model.options == {"num_snippets": 4, "nrm_theta": 0.15, "temporal": "avgpool"}
    assert cfg.loss.active_epochs == [0, 14] and cfg.model.clip_weights is None


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("optim.lrr=1", r"unknown config key 'optim\.lrr'"),
        ("optimizer.lr=1", r"unknown config key 'optimizer'"),
        ("optim.lr=fast", r"optim\.lr: expected a number, got 'fast'"),
        ("data.workers=2.5", r"data\.workers: expected an integer"),
        ("run.amp=fp8", r"run\.amp: expected one of \['auto', 'bf16', 'fp16', 'fp32'\]"),
        ("run.progress=maybe", r"run\.progress: expected true/false"),
        ("schedule.warmup_epochs=80", r"warmup_epochs must lie in \[0, epochs\]"),
        ("optim", r"not of the form section\.key=value"),
        ("eval.num_clips=0", r"eval\.num_clips \(--clips\) must be >= 1, got 0"),  # was a traceback in evaluate
        ("loss.lam=nan", r"loss\.lam must be >= 0, got nan"),
        ("augment.mixup_alpha=-1", r"augment\.mixup_alpha must be >= 0"),  # silently meant 0 before
        ("augment.flip_p=1.5", r"augment\.flip_p is a probability"),
        ("augment.crop_scales=[1.0,1.2]", r"augment\.crop_scales must be fractions in \(0, 1\]"),
    ],
)
def test_config_errors_name_the_key(override: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("dfew_vitb16", [override])


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("base: dfew_vitb16\nschedule:\n  epochz: 3\n")
    with pytest.raises(ConfigError, match=rf"{bad}: unknown config key 'schedule\.epochz'"):
        load_config(bad)
    with pytest.raises(ConfigError, match="no config file 'nope'"):
        load_config("nope")
    loop = tmp_path / "loop.yaml"
    loop.write_text(f"base: {loop}\n")
    with pytest.raises(ConfigError, match="circular"):
        load_config(loop)
