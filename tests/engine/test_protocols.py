"""Evaluation protocols (``dkclip train CONFIG --protocol paper|honest``): the keys each sets on every shipped
config, contradictions refused by key, and runs whose outputs name the protocol."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from engine_helpers import tiny_config, write_config

from dkclip.cli import main as cli_main
from dkclip.engine.protocols import PROTOCOLS
from dkclip.engine.run_config import ConfigError, list_configs, load_config
from dkclip.errors import UsageError

EXPECTED = {
    "paper": {"select": "test-max", "metric": "war", "head": "global", "num_clips": 1, "num_crops": 1,
              "report_last": False},
    "honest": {"select": "val", "metric": "war", "head": "global", "num_clips": 1, "num_crops": 1,
               "report_last": True},
}


@pytest.mark.parametrize("config", list_configs())
@pytest.mark.parametrize("protocol", sorted(PROTOCOLS))
def test_every_shipped_config_takes_every_protocol(config: str, protocol: str) -> None:
    plain, cfg = load_config(config), load_config(config, protocol=protocol)
    assert cfg.eval.protocol == protocol and plain.eval.protocol is None
    assert {k: getattr(cfg.eval, k) for k in EXPECTED[protocol]} == EXPECTED[protocol]
    # Only evaluation keys change; the model and the recipe stay the config's.
    assert cfg.model == plain.model and cfg.optim == plain.optim and cfg.loss == plain.loss
    assert cfg.data == plain.data and cfg.schedule == plain.schedule


def test_protocol_keys_cannot_be_contradicted() -> None:
    # --set comes after the protocol, but may not change what the protocol fixes ...
    with pytest.raises(ConfigError, match=r"eval\.select='val' contradicts eval\.protocol=paper"):
        load_config("dfew_vitb16", ["eval.select=val"], protocol="paper")
    with pytest.raises(ConfigError, match=r"eval\.num_clips=4 contradicts eval\.protocol=honest"):
        load_config("dfew_vitb16", ["eval.num_clips=4"], protocol="honest")
    # ... nor can the label be set on a config that does something else.
    with pytest.raises(ConfigError, match=r"eval\.select='val' contradicts eval\.protocol=paper"):
        load_config("dfew_vitb16", ["eval.protocol=paper"])
    with pytest.raises(ConfigError, match="unknown protocol 'kaggle'"):
        load_config("dfew_vitb16", protocol="kaggle")
    # Keys the protocol leaves alone stay free.
    assert load_config("dfew_vitb16", ["eval.every=5"], protocol="paper").eval.every == 5


def test_cli_protocol_prints_resolved_and_refuses_resume(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_main(["train", "authors_code", "--protocol", "honest", "--print-config"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["eval"]["protocol"] == "honest" and printed["eval"]["select"] == "val"
    assert cli_main(["train", "--resume", str(tmp_path), "--protocol", "paper"]) == UsageError.exit_code
    assert "drop --protocol" in capsys.readouterr().err


@pytest.mark.parametrize("protocol", ["paper", "honest"])
def test_a_run_names_its_protocol(protocol: str, synth_root: Path, tmp_path: Path) -> None:
    cfg = tiny_config(synth_root, tmp_path, run={"name": protocol},
                      schedule={"epochs": 1, "warmup_epochs": 0, "batch_size": 8},
                      data={"test_list": str(synth_root / "set_1_test.txt"), "eval_num_frames": 4,
                            "eval_batch_size": 32})
    del cfg["eval"]  # the protocol sets it
    assert cli_main(["train", str(write_config(tmp_path / "tiny.yaml", cfg)), "--protocol", protocol]) == 0
    run_dir = tmp_path / protocol
    saved = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert saved["eval"]["protocol"] == protocol
    result = json.loads((run_dir / "results.json").read_text())
    if protocol == "paper":
        assert result["selection"] == "test-max" and "the paper's protocol" in result["selection_note"]
    else:
        assert result["selection"] == "val" and "validation split" in result["selection_note"]
    assert result["views"] == {"clips": 1, "crops": 1} and result["reported_head"] == "global"
    assert result["protocol"] == protocol
    assert ("last_epoch" in result) == (protocol == "honest")
    if protocol == "honest":
        assert result["last_epoch"]["epoch"] == 0 and set(result["last_epoch"]["heads"]) == {"global", "local", "fused"}
