"""Typed run configuration: dataclass sections loaded from YAML, with dotted command-line overrides.

    cfg = load_config("dfew_vitb16", overrides=["optim.lr=2e-6", "data.root=/data/DFEW"])

A config name is a shipped YAML (``dkclip/configs/<name>.yaml``) or a path. A YAML may start with
``base: <name>`` to inherit another config. Unknown keys and values of the wrong type are errors that name the
key (and the file). The resolved config is saved as ``config.yaml`` in every run directory.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from ..errors import ConfigError

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass
class ModelSection:
    name: str = "dkclip-vit-b-16"
    pretrained: str | None = None  # a registered weights tag of the model (dkclip.list_pretrained()), e.g. synthclip
    clip_weights: str | None = None  # a local CLIP checkpoint; with neither, CLIP is randomly initialised (warned)
    trust_torchscript: bool = False  # read a TorchScript clip_weights file with torch.jit.load (runs its code)
    prompts: str = "dfew"  # named prompt set or a path to an id,name CSV
    options: dict[str, Any] = field(default_factory=dict)  # any DKClipConfig field, e.g. {temporal: avgpool}


@dataclass
class DataSection:
    root: str | None = None  # prefix for relative paths in the lists
    train_list: str | None = None
    test_list: str | None = None
    val_list: str | None = None  # explicit validation list; otherwise carved from train_list (val_fraction)
    val_fraction: float = 0.1
    list_format: str = "auto"
    rewrites: list[str] = field(default_factory=list)  # "old_prefix=new_prefix"
    num_frames: int = 16  # frames sampled per training clip
    eval_num_frames: int | None = None  # frames per evaluation clip (default: num_frames)
    short_clip: Literal["loop", "pad"] = "loop"
    # Normalisation the model is trained with and carries (its config's image_mean/std); None: the pretrained
    # weights' own, else ImageNet's (the authors').
    normalize: Literal["imagenet", "clip"] | None = None
    min_listed_frames: int = 3  # the authors drop clips listed with fewer than 3 frames
    on_error: Literal["raise", "skip"] = "raise"
    allow_duplicates: bool = False  # a clip listed twice in data.train_list is an error unless this is set
    allow_missing_classes: bool = False  # a class of the prompts without any training clip is an error unless set
    workers: int = 4
    eval_batch_size: int = 16


@dataclass
class AugmentSection:
    mixup_alpha: float = 0.8
    fmix_alpha: float = 1.0
    switch_prob: float = 0.5  # probability of FMix instead of Mixup
    mix_prob: float = 1.0  # probability that a batch is mixed at all
    label_smoothing: float = 0.1
    # Spatial/colour augmentation of training clips (docs/method.md §3.5 defaults).
    crop_scales: list[float] = field(default_factory=lambda: [1.0, 0.875, 0.75, 0.66])
    flip_p: float = 0.5
    color_jitter_p: float = 0.8
    grayscale_p: float = 0.2


@dataclass
class OptimSection:
    lr: float = 2e-6
    new_module_lr_mult: float = 10.0
    weight_decay: float = 1e-3
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98])
    eps: float = 1e-8
    grad_clip: float | None = None
    freeze_patch_embed: bool = False  # the paper freezes the patch embedding; the authors' code trains it


@dataclass
class ScheduleSection:
    epochs: int = 50
    warmup_epochs: float = 5.0
    min_lr_ratio: float = 0.01
    batch_size: int = 8  # clips per process per iteration
    effective_batch: int = 32  # clips per optimiser step, kept across world sizes by gradient accumulation


@dataclass
class LossSection:
    lam: float = 1.0
    use_consistency: bool = True  # the CCR terms (local CE + KL) of Eq. 11 (Table 4's last step)
    kl_mode: Literal["kl", "authors_code"] = "kl"
    active_epochs: list[int] | None = None  # [start, stop) of the consistency terms; None = every epoch


@dataclass
class EvalSection:
    select: Literal["last", "val", "test-max"] = "val"
    metric: Literal["uar", "war"] = "uar"  # selection metric for best
    every: int = 1  # evaluate every N epochs (and after the last)
    num_clips: int = 1  # multi-view test: clips x crops, probabilities summed over views
    num_crops: Literal[1, 3] = 1
    head: Literal["global", "local", "fused"] = "global"  # the head whose argmax is reported


@dataclass
class RunSection:
    output_dir: str = "runs"
    name: str | None = None  # run directory name (default: config name + time)
    seed: int = 1024
    device: str = "auto"
    amp: Literal["auto", "bf16", "fp16", "fp32"] = "auto"  # auto: bf16 (else fp16) on GPU, fp32 on CPU
    grad_checkpointing: bool = False
    log_every: int = 20
    tensorboard: bool = True
    progress: bool = True
    max_steps: int | None = None  # stop after this many optimiser steps (tests, smoke runs)


@dataclass
class TrainConfig:
    model: ModelSection = field(default_factory=ModelSection)
    data: DataSection = field(default_factory=DataSection)
    augment: AugmentSection = field(default_factory=AugmentSection)
    optim: OptimSection = field(default_factory=OptimSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    loss: LossSection = field(default_factory=LossSection)
    eval: EvalSection = field(default_factory=EvalSection)
    run: RunSection = field(default_factory=RunSection)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


# ---------------------------------------------------------------------------------------------- type checking
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Check ``value`` against the annotation ``tp`` (ints are accepted as floats); raise naming ``key``."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = get_args(tp)
        if value is None and type(None) in options:
            return None
        errors = []
        for option in options:
            if option is type(None):
                continue
            try:
                return _coerce(value, option, key)
            except ConfigError as exc:
                errors.append(str(exc))
        raise ConfigError(f"{key}: expected {_type_name(tp)}, got {value!r}")
    if origin is Literal:
        if value not in get_args(tp):
            raise ConfigError(f"{key}: expected one of {list(get_args(tp))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        (item,) = get_args(tp) or (Any,)
        return [_coerce(v, item, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "2e-6" (no dot) as a string
            try:
                return float(value)
            except ValueError:
                raise ConfigError(f"{key}: expected a number, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true/false, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, got {value!r}")
        return value
    raise ConfigError(f"{key}: unsupported type {_type_name(tp)}")


def _apply(section: Any, values: dict[str, Any], prefix: str) -> None:
    hints = get_type_hints(type(section))
    for key, value in values.items():
        full = f"{prefix}{key}"
        if key not in hints:
            known = ", ".join(hints)
            raise ConfigError(f"unknown config key {full!r} (known in this section: {known})")
        current = getattr(section, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ConfigError(f"{full}: expected a mapping of its fields, got {value!r}")
            _apply(current, value, f"{full}.")
        elif get_origin(hints[key]) is dict and isinstance(value, dict) and isinstance(current, dict):
            current.update(value)  # mappings merge, so a child config adds to its base's model options
        else:
            setattr(section, key, _coerce(value, hints[key], full))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def resolve_config_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = CONFIG_DIR / f"{name_or_path}.yaml"
    if shipped.is_file():
        return shipped
    raise ConfigError(f"no config file {str(name_or_path)!r} and no shipped config of that name "
                      f"(shipped: {', '.join(list_configs())})")


def list_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def _load_into(cfg: TrainConfig, path: Path, seen: tuple[Path, ...] = ()) -> None:
    if path in seen:
        raise ConfigError(f"{path}: circular 'base' chain")
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is not None:
        _load_into(cfg, resolve_config_path(base), (*seen, path))
    try:
        _apply(cfg, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse_override(text: str) -> tuple[list[str], Any]:
    """``a.b.c=value`` -> (["a", "b", "c"], value parsed as YAML: numbers, booleans, null, lists)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} is not of the form section.key=value")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key part")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return parts, value


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> None:
    for text in overrides:
        parts, value = parse_override(text)
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        try:
            _apply(cfg, nested, "")
        except ConfigError as exc:
            raise ConfigError(f"--set {text}: {exc}") from None


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | None = None) -> TrainConfig:
    cfg = TrainConfig()
    if name_or_path is not None:
        _load_into(cfg, resolve_config_path(name_or_path))
    apply_overrides(cfg, overrides or [])
    validate(cfg)
    return cfg


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    cfg = TrainConfig()
    _apply(cfg, data, "")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Every value that can be checked without the data, before anything is built or written."""
    s = cfg.schedule
    if s.epochs < 1 or s.batch_size < 1 or s.effective_batch < 1:
        raise ConfigError("schedule.epochs, schedule.batch_size and schedule.effective_batch must be >= 1")
    if not 0 <= s.warmup_epochs <= s.epochs:
        raise ConfigError(f"schedule.warmup_epochs must lie in [0, epochs], got {s.warmup_epochs}")
    if not 0 <= s.min_lr_ratio <= 1:
        raise ConfigError(f"schedule.min_lr_ratio must lie in [0, 1], got {s.min_lr_ratio}")
    if not 0 <= cfg.data.val_fraction < 1:
        raise ConfigError(f"data.val_fraction must lie in [0, 1), got {cfg.data.val_fraction}")
    if cfg.loss.active_epochs is not None and len(cfg.loss.active_epochs) != 2:
        raise ConfigError(f"loss.active_epochs must be [start, stop], got {cfg.loss.active_epochs}")
    if cfg.eval.every < 1:
        raise ConfigError("eval.every must be >= 1")
    o = cfg.optim
    if len(o.betas) != 2 or not all(0 <= b < 1 for b in o.betas):
        raise ConfigError(f"optim.betas must be two values in [0, 1), got {o.betas}")
    for key, value in (("optim.lr", o.lr), ("optim.new_module_lr_mult", o.new_module_lr_mult), ("optim.eps", o.eps)):
        if not (value > 0 and math.isfinite(value)):
            raise ConfigError(f"{key} must be a positive number, got {value}")
    if o.lr > 1:
        raise ConfigError(f"optim.lr={o.lr} is not a learning rate for AdamW (the paper's is 2e-6)")
    if o.weight_decay < 0 or not math.isfinite(o.weight_decay):
        raise ConfigError(f"optim.weight_decay must be >= 0, got {o.weight_decay}")
    if o.grad_clip is not None and not o.grad_clip > 0:
        raise ConfigError(f"optim.grad_clip must be > 0 (or null), got {o.grad_clip}")
    d = cfg.data
    if d.workers < 0:
        raise ConfigError(f"data.workers must be >= 0, got {d.workers}")
    if d.eval_batch_size < 1 or d.num_frames < 1 or (d.eval_num_frames is not None and d.eval_num_frames < 1):
        raise ConfigError("data.eval_batch_size, data.num_frames and data.eval_num_frames must be >= 1")
    if cfg.loss.lam < 0:
        raise ConfigError(f"loss.lam must be >= 0, got {cfg.loss.lam}")
    if cfg.run.log_every < 1:
        raise ConfigError(f"run.log_every must be >= 1, got {cfg.run.log_every}")
    if cfg.run.max_steps is not None and cfg.run.max_steps < 1:
        raise ConfigError(f"run.max_steps must be >= 1 (or null), got {cfg.run.max_steps}")
    if cfg.run.name is not None:
        from .rundir import check_run_name

        check_run_name(cfg.run.name)
    _check_names(cfg)


def _check_names(cfg: TrainConfig) -> None:
    from ..prompts import PROMPT_SETS, list_prompt_sets
    from ..registry import list_models

    if cfg.model.name not in list_models():
        raise ConfigError(f"model.name: unknown model {cfg.model.name!r}; available: {list_models()}")
    prompts = cfg.model.prompts
    if prompts not in PROMPT_SETS and not prompts.endswith(".csv"):
        raise ConfigError(f"model.prompts: unknown prompt set {prompts!r}; use one of {list_prompt_sets()} or a "
                          "path to an id,name CSV")
    if prompts.endswith(".csv") and "{fold}" not in prompts and not Path(prompts).is_file():
        raise ConfigError(f"model.prompts: prompt file not found: {prompts}")
    if cfg.model.pretrained is not None and cfg.model.clip_weights is not None:
        raise ConfigError("model.pretrained and model.clip_weights are both set; choose one")
