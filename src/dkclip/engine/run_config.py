"""Typed run configuration: dataclass sections loaded from YAML, with dotted command-line overrides.

    cfg = load_config("dfew_vitb16", overrides=["optim.lr=2e-6", "data.root=/data/DFEW"])

A config name is a shipped YAML (``dkclip/configs/<name>.yaml``) or a path. A YAML may start with
``base: <name>`` to inherit another config. Unknown keys and values of the wrong type are errors that name the
key (and the file). The resolved config is saved as ``config.yaml`` in every run directory.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import yaml

from ..errors import ConfigError
from .config_checks import validate

CONFIG_DIR = Path(__file__).resolve().parent.parent / "configs"


def key(default: Any, doc: str) -> Any:
    """A config field with an immutable default and its one-line description (``dkclip train --print-config``)."""
    return field(default=default, metadata={"doc": doc})


def described(doc: str) -> dict[str, str]:
    """The metadata of a field with a mutable default: ``field(default_factory=..., metadata=described(...))``."""
    return {"doc": doc}


@dataclass
class ModelSection:
    name: str = key("dkclip-vit-b-16", "model variant: dkclip-tiny, dkclip-vit-b-16, dkclip-vit-b-32, dkclip-vit-l-14")
    pretrained: str | None = key(None, "a registered weights tag of the model (dkclip.list_pretrained()), e.g. "
                                       "synthclip")
    clip_weights: str | None = key(None, "a local CLIP weights file (OpenAI's .pt, a state dict, .safetensors); "
                                         "with neither this nor pretrained, CLIP is randomly initialised (warned)")
    trust_torchscript: bool = key(False, "read a TorchScript clip_weights file with torch.jit.load (runs code "
                                         "from the file)")
    prompts: str = key("dfew", "prompt set (dfew, ferv39k, mafw; <set>_and, <set>_classnames, <set>_paper) or a "
                               "path to an id,name CSV")
    options: dict[str, Any] = field(default_factory=dict, metadata=described(
        "network options: any DKClipConfig field, e.g. {temporal: avgpool, nrm_theta: 0.2}"))


@dataclass
class DataSection:
    root: str | None = key(None, "folder that relative paths in the lists are joined to")
    train_list: str | None = key(None, "training list file (dkclip cv replaces {fold})")
    test_list: str | None = key(None, "test list file: the official test split of the fold")
    val_list: str | None = key(None, "validation list; if unset, the validation split is carved from train_list "
                                     "(data.val_fraction)")
    val_fraction: float = key(0.1, "fraction of each class of train_list held out for validation (eval.select=val "
                                   "without val_list)")
    list_format: str = key("auto", "list file format: auto, list, path_label or csv (docs/data.md)")
    rewrites: list[str] = field(default_factory=list, metadata=described(
        "path prefix rewrites OLD=NEW applied to listed paths, first match wins"))
    num_frames: int = key(16, "frames T sampled per training clip")
    eval_num_frames: int | None = key(None, "frames per evaluation clip (null: data.num_frames)")
    short_clip: Literal["loop", "pad"] = key("loop", "clips shorter than T: loop (the authors') or pad (DFER-CLIP)")
    normalize: Literal["imagenet", "clip"] | None = key(
        None, "normalisation the model is trained with and carries: imagenet (the authors'), clip, or null for the "
              "pretrained weights' own, else ImageNet's")
    min_listed_frames: int = key(3, "clips listed with fewer frames are dropped (the authors' filter: 3)")
    on_error: Literal["raise", "skip"] = key("raise", "an unreadable clip: raise (stop) or skip (logged; replaced "
                                                      "in training, dropped in evaluation)")
    allow_duplicates: bool = key(False, "accept a clip listed more than once in train_list (otherwise an error)")
    allow_missing_classes: bool = key(False, "accept a class of the prompts without any training clip (otherwise "
                                             "an error)")
    workers: int = key(4, "DataLoader worker processes per training process")
    eval_batch_size: int = key(16, "clips per evaluation batch, per process")


@dataclass
class AugmentSection:
    mixup_alpha: float = key(0.8, "Mixup: λ ~ Beta(α, α)")
    fmix_alpha: float = key(1.0, "FMix: λ ~ Beta(α, α)")
    switch_prob: float = key(0.5, "probability of FMix instead of Mixup for a mixed batch")
    mix_prob: float = key(1.0, "probability that a batch is mixed at all")
    label_smoothing: float = key(0.1, "label smoothing ε of the targets")
    # Spatial/colour augmentation of training clips (docs/method.md §3.5 defaults).
    crop_scales: list[float] = field(default_factory=lambda: [1.0, 0.875, 0.75, 0.66], metadata=described(
        "multi-scale crop sizes, as fractions of the resized short side"))
    flip_p: float = key(0.5, "horizontal flip probability, per clip")
    color_jitter_p: float = key(0.8, "colour jitter probability, per clip (factors redrawn per frame)")
    grayscale_p: float = key(0.2, "grayscale probability, per clip")


@dataclass
class OptimSection:
    lr: float = key(2e-6, "AdamW base learning rate (CLIP's visual weights)")
    new_module_lr_mult: float = key(10.0, "learning-rate multiplier of the new modules (message tokens, MSIM, CMAM, "
                                          "CoOp context)")
    weight_decay: float = key(1e-3, "AdamW weight decay (none on biases, 1-D parameters and position embeddings)")
    betas: list[float] = field(default_factory=lambda: [0.9, 0.98], metadata=described("AdamW (β1, β2)"))
    eps: float = key(1e-8, "AdamW ε")
    grad_clip: float | None = key(None, "clip the gradient norm to this value (null: no clipping)")
    freeze_patch_embed: bool = key(False, "freeze the patch embedding (the paper does; the authors' code trains it)")
    freeze_msim: bool = key(False, "freeze the MSIM at its initialisation (the authors' code does, by accident: "
                                   "docs/method.md D2; the paper trains it)")


@dataclass
class ScheduleSection:
    epochs: int = key(50, "training epochs")
    warmup_epochs: float = key(5.0, "linear warm-up epochs (fractions allowed), then a per-iteration cosine")
    min_lr_ratio: float = key(0.01, "the cosine ends at this fraction of each learning rate")
    batch_size: int = key(8, "clips per process per iteration (the per-GPU batch)")
    effective_batch: int = key(32, "clips per optimiser step, reached by gradient accumulation over iterations "
                                   "and processes (kept across world sizes)")


@dataclass
class LossSection:
    lam: float = key(1.0, "λ of Eq. 11: weight of the consistency terms (local CE + KL)")
    use_consistency: bool = key(True, "train with the CCR terms (local CE + KL) of Eq. 11 (Table 4's last step)")
    kl_mode: Literal["kl", "authors_code"] = key("kl", "kl: KL(p_g‖p_l); authors_code: the released code's "
                                                       "double-softmax term")
    active_epochs: list[int] | None = field(default=None, metadata=described(
        "[start, stop) epochs of the consistency terms (null: every epoch)"))


@dataclass
class EvalSection:
    select: Literal["last", "val", "test-max"] = key(
        "val", "the epoch kept as best/: val (best on the validation split), last, or test-max (best on the TEST "
               "split: the paper's protocol, optimistic)")
    metric: Literal["uar", "war"] = key("uar", "metric that selects the best epoch: uar or war")
    every: int = key(1, "evaluate every N epochs (and after the last)")
    num_clips: int = key(1, "temporal views per test clip (probabilities summed over views)")
    num_crops: Literal[1, 3] = key(1, "spatial crops per view: 1 (centre) or 3")
    head: Literal["global", "local", "fused"] = key("global", "the head whose argmax is reported: global, local "
                                                               "(NRM-fused snippets) or fused")
    report_last: bool = key(False, "also evaluate the last epoch's model on the test split and report it beside the "
                                   "selected one (results.json: last_epoch)")
    protocol: str | None = key(None, "the evaluation protocol this config follows (dkclip train --protocol): paper "
                                     "or honest; its keys must keep the protocol's values")


@dataclass
class RunSection:
    output_dir: str = key("runs", "folder that holds the run directories")
    name: str | None = key(None, "run directory name (null: the config name + the start time)")
    seed: int = key(1024, "seed of model initialisation, data order and augmentation")
    device: str = key("auto", "auto (cuda when available), cpu, cuda, cuda:N")
    amp: Literal["auto", "bf16", "fp16", "fp32"] = key("auto", "mixed precision: auto (bf16, else fp16 on GPU; "
                                                                "fp32 on CPU), bf16, fp16 or fp32")
    grad_checkpointing: bool = key(False, "recompute activations in the backward pass: less GPU memory, more time")
    log_every: int = key(20, "log a step line every N optimiser steps")
    tensorboard: bool = key(True, "write TensorBoard scalars (when tensorboard is installed)")
    progress: bool = key(True, "progress bar on a terminal (plain lines otherwise)")
    max_steps: int | None = key(None, "stop after this many optimiser steps (smoke runs, tests); null: every epoch")
    keep: Literal["all", "best"] = key("all", "what a finished run keeps: all (last.pt with the optimiser state, "
                                              "to extend or inspect the run) or best (best/ only; last.pt removed)")


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


# ---------------------------------------------------------------------------------------------- descriptions
def describe_keys(cfg: TrainConfig | None = None) -> list[tuple[str, Any, str]]:
    """(dotted key, value, one-line description) of every config key, in section order."""
    cfg = cfg if cfg is not None else TrainConfig()
    rows = []
    for section in dataclasses.fields(cfg):
        values = getattr(cfg, section.name)
        for f in dataclasses.fields(values):
            rows.append((f"{section.name}.{f.name}", getattr(values, f.name), str(f.metadata.get("doc", ""))))
    return rows


def _inline(value: Any) -> str:
    """A value as one line of YAML (flow style)."""
    text = yaml.safe_dump(value, default_flow_style=True, width=2**31, allow_unicode=True, sort_keys=False).strip()
    return text.removesuffix("...").strip()


def format_config(cfg: TrainConfig, header: str = "") -> str:
    """The config as YAML, every key followed by its description as a comment; it loads back as a config file."""
    rows = [(k.split(".", 1), _inline(v), doc) for k, v, doc in describe_keys(cfg)]
    width = min(44, max(len(f"  {name}: {text}") for (_, name), text, _ in rows))
    lines = [f"# {line}" for line in header.splitlines()]
    section = None
    for (sec, name), text, doc in rows:
        if sec != section:
            lines.append(f"{sec}:")
            section = sec
        lines.append(f"{f'  {name}: {text}'.ljust(width)}  # {doc or '(no description)'}")
    return "\n".join(lines) + "\n"


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


def _key_type(cfg: TrainConfig, parts: list[str]) -> Any:
    """The annotation of a dotted key, or None when it names no key (the error is then _apply's)."""
    obj: Any = cfg
    tp: Any = None
    for part in parts:
        if not dataclasses.is_dataclass(obj):
            return None
        hints = get_type_hints(type(obj))
        if part not in hints:
            return None
        tp, obj = hints[part], getattr(obj, part)
    return tp


def _is_list_type(tp: Any) -> bool:
    if get_origin(tp) in (typing.Union, types.UnionType):
        return any(get_origin(a) is list for a in get_args(tp))
    return get_origin(tp) is list


def _as_list(value: Any) -> Any:
    """The command line's list forms: ``1,0.875,0.75`` (comma-separated, each item read as YAML) and a single
    item; ``[1, 0.875, 0.75]`` is already a YAML list, ``[]`` the empty one."""
    if isinstance(value, str):
        return [yaml.safe_load(item) if item.strip() else "" for item in value.split(",")] if value.strip() else []
    if value is None or isinstance(value, list | dict):
        return value
    return [value]


def apply_overrides(cfg: TrainConfig, overrides: list[str]) -> None:
    """Apply ``--set`` overrides. VALUE is read as YAML (``2e-6``, ``true``, ``null``, ``[1, 0.875]``); a key that
    holds a list also takes ``1,0.875,0.75`` or a single item."""
    for text in overrides:
        parts, value = parse_override(text)
        if _is_list_type(_key_type(cfg, parts)):
            value = _as_list(value)
        nested: Any = value
        for part in reversed(parts):
            nested = {part: nested}
        try:
            _apply(cfg, nested, "")
        except ConfigError as exc:
            raise ConfigError(f"--set {text}: {exc}") from None


def load_config(name_or_path: str | Path | None = None, overrides: list[str] | None = None,
                protocol: str | None = None) -> TrainConfig:
    """The config file, then the keys of ``protocol`` (:mod:`dkclip.engine.protocols`: ``paper``, ``honest``),
    then ``overrides``; validated."""
    from .protocols import get_protocol

    cfg = TrainConfig()
    if name_or_path is not None:
        _load_into(cfg, resolve_config_path(name_or_path))
    if protocol is not None:
        apply_overrides(cfg, get_protocol(protocol).overrides())
    apply_overrides(cfg, overrides or [])
    validate(cfg)
    return cfg


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    cfg = TrainConfig()
    _apply(cfg, data, "")
    validate(cfg)
    return cfg
