"""Discoverable configuration: every run-config key has a one-line description, `--print-config` output is the
resolved config as loadable YAML, and `--set` takes lists in the documented forms."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from dkclip.engine.run_config import TrainConfig, describe_keys, format_config, load_config
from dkclip.errors import ConfigError


def test_every_key_has_a_one_line_description() -> None:
    rows = describe_keys()
    sections = [f.name for f in dataclasses.fields(TrainConfig)]
    expected = [f"{s}.{f.name}" for s in sections for f in dataclasses.fields(getattr(TrainConfig(), s))]
    assert [k for k, _, _ in rows] == expected
    undocumented = [k for k, _, doc in rows if not doc.strip() or "\n" in doc]
    assert not undocumented, f"config keys without a one-line description (engine/run_config.py): {undocumented}"


def test_printed_config_is_the_resolved_config_and_loads_back(tmp_path) -> None:
    cfg = load_config("dfew_vitb32", ["optim.lr=3e-6", "augment.crop_scales=1,0.75"])
    text = format_config(cfg, "resolved")
    assert text.startswith("# resolved\nmodel:\n  name: dkclip-vit-b-32")
    assert yaml.safe_load(text) == cfg.to_dict()
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("crop_scales:"))
    assert line.split("#")[0].strip() == "crop_scales: [1.0, 0.75]" and "fractions of the resized short side" in line
    saved = tmp_path / "printed.yaml"
    saved.write_text(text)
    assert load_config(saved).to_dict() == cfg.to_dict()


@pytest.mark.parametrize(("override", "key", "expected"), [
    ("augment.crop_scales=[1, 0.875, 0.75]", "augment.crop_scales", [1.0, 0.875, 0.75]),
    ("augment.crop_scales=1,0.875,0.75", "augment.crop_scales", [1.0, 0.875, 0.75]),
    ("augment.crop_scales=0.9", "augment.crop_scales", [0.9]),
    ("data.rewrites=/old/DFEW=/data/DFEW", "data.rewrites", ["/old/DFEW=/data/DFEW"]),
    ("data.rewrites=/a=/b,/c=/d", "data.rewrites", ["/a=/b", "/c=/d"]),
    ("data.rewrites=[]", "data.rewrites", []),
    ("loss.active_epochs=0,14", "loss.active_epochs", [0, 14]),
    ("loss.active_epochs=null", "loss.active_epochs", None),
])
def test_set_takes_lists(override: str, key: str, expected: object) -> None:
    section, name = key.split(".")
    assert getattr(getattr(load_config("dfew_vitb16", [override]), section), name) == expected


def test_set_list_items_are_still_type_checked() -> None:
    with pytest.raises(ConfigError, match=r"--set augment.crop_scales=1,big: augment.crop_scales\[1\]: expected a "
                                          "number"):
        load_config("dfew_vitb16", ["augment.crop_scales=1,big"])
