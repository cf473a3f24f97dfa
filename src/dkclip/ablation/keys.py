"""Run keys: a run is keyed by a hash of its resolved config (seed included) plus fingerprints of its inputs
(the CLIP weights file, the list files, the dataset's ``meta.json``), so that identical configurations in
different table cells train once per seed, and new weights or a regenerated dataset rerun the study. Code is not
in the key: after a code change that changes the numbers, use a fresh ``--out-dir``.

The key hashes the config keys whose values differ from the run config's defaults (``TrainConfig()``), so a key
added to the schema with a default that changes nothing (the engine gains options over time) leaves every key,
and with it a long study's resumability, intact. The first study's records (``docs/ablation/v1``) carry keys
of an older scheme; they still load, a rerun trains anew.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ..engine.run_config import TrainConfig
from ..pretrained import default_tag, file_sha256, get_pretrained_cfg, verified_path

# Knobs the run directory and result key ignore: they change logging or speed, never the numbers.
VOLATILE: dict[str, tuple[str, ...]] = {
    "run": ("output_dir", "name", "progress", "log_every", "tensorboard", "device"),
    "data": ("workers", "eval_batch_size"),
}


def weights_file(cfg: TrainConfig) -> Path | None:
    """The CLIP weights file a run starts from: the registered ``model.pretrained`` file (verified against its
    SHA-256), ``model.clip_weights`` (``"default"``: the deprecated alias of the default tag), or None."""
    m = cfg.model
    if m.pretrained:
        return verified_path(get_pretrained_cfg(m.name, m.pretrained))
    if m.clip_weights == "default":
        return verified_path(get_pretrained_cfg(m.name, default_tag(m.name)))
    return Path(m.clip_weights) if m.clip_weights else None


def _digest(path: Path | None) -> str | None:
    return file_sha256(path)[:16] if path is not None and path.is_file() else None


def input_fingerprint(cfg: TrainConfig) -> dict[str, str | None]:
    """Digests of what a run reads besides its config (None for a file that is not there)."""
    prints: dict[str, str | None] = {"weights": _digest(weights_file(cfg))}
    for attr in ("train_list", "test_list", "val_list"):
        value = getattr(cfg.data, attr)
        prints[attr] = _digest(Path(value)) if value else None
    prints["meta"] = _digest(Path(cfg.data.root) / "meta.json") if cfg.data.root else None
    return prints


def key_config(cfg: TrainConfig) -> dict[str, dict[str, Any]]:
    """The part of ``cfg`` a run key hashes: per section, the keys whose values differ from the defaults, volatile
    keys dropped."""
    data, defaults = cfg.to_dict(), TrainConfig().to_dict()
    out: dict[str, dict[str, Any]] = {}
    for section, values in data.items():
        skip = VOLATILE.get(section, ())
        changed = {k: v for k, v in values.items() if k not in skip and defaults.get(section, {}).get(k, object()) != v}
        if changed:
            out[section] = changed
    return out


def run_key(cfg: TrainConfig, fingerprint: dict[str, Any]) -> str:
    """12 hex digits of the config's non-default values (volatile keys dropped) and the input fingerprint."""
    data = key_config(cfg)
    payload = json.dumps({"config": data, "inputs": fingerprint}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]
