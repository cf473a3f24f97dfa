"""Named pretrained weights (timm's ``PretrainedCfg`` idea) and recognition of OpenAI's published CLIP files.

A registered tag names a file shipped inside the package together with its SHA-256 and size, the
normalisation it was trained with, what it was trained on and its licence::

    dkclip.list_pretrained()                          # [('dkclip-tiny', 'synthclip')]
    dkclip.create_model("dkclip-tiny", pretrained="synthclip")

The file is verified against its hash when it is loaded (once per process and file state), so a damaged or
replaced file is an error, never a silently different model. Nothing is ever downloaded: OpenAI's CLIP
checkpoints stay files the user supplies. Those are recognised by their SHA-256 (the value OpenAI publishes as
part of each checkpoint's download address), and the log says which model a file is; a file that matches none
is loaded all the same, with a note.
"""

from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path

from .constants import IMAGENET_MEAN, IMAGENET_STD
from .errors import ConfigError, WeightsIntegrityError

logger = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class PretrainedCfg:
    """One named set of CLIP weights for a registered model."""

    model: str
    tag: str
    file: str  # a file name inside dkclip/weights
    sha256: str
    size: int  # bytes
    image_mean: tuple[float, float, float]
    image_std: tuple[float, float, float]
    trained_on: str
    license: str
    description: str

    @property
    def path(self) -> Path:
        return WEIGHTS_DIR / self.file


_PRETRAINED: dict[tuple[str, str], PretrainedCfg] = {}
# Tags a model uses when ``clip_weights="default"`` (deprecated alias) is given.
_DEFAULT_TAGS: dict[str, str] = {}


def register_pretrained(cfg: PretrainedCfg, default: bool = False) -> None:
    key = (cfg.model, cfg.tag)
    if key in _PRETRAINED:
        raise ValueError(f"pretrained weights {cfg.model}/{cfg.tag} are already registered")
    _PRETRAINED[key] = cfg
    if default:
        _DEFAULT_TAGS[cfg.model] = cfg.tag


register_pretrained(PretrainedCfg(
    model="dkclip-tiny", tag="synthclip", file="dkclip-tiny-synthclip.safetensors",
    sha256="8ef20024a99c65d59c0c385ac936848cdb7bc8c0e95bcd6dcd83b7db950552d8", size=20_005_842,
    image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD,
    trained_on="430,400 synthetic face frames (dkclip.synth) with AU captions, dkclip pretrain in two stages; "
               "no real face",
    license="MIT",
    description="dkclip-tiny's CLIP pretrained on synthetic AU-captioned faces (model card: "
                "src/dkclip/weights/README.md). For the CPU demo, tests and synthetic ablations only.",
), default=True)


def list_pretrained(model: str | None = None) -> list[tuple[str, str]]:
    """``(model, tag)`` pairs of the registered pretrained weights (of one model if given)."""
    return sorted(k for k in _PRETRAINED if model is None or k[0] == model)


def get_pretrained_cfg(model: str, tag: str) -> PretrainedCfg:
    try:
        return _PRETRAINED[(model, tag)]
    except KeyError:
        tags = [t for m, t in list_pretrained(model)]
        known = f"tags of {model}: {tags}" if tags else f"{model} has no pretrained weights registered"
        raise ConfigError(f"unknown pretrained weights {tag!r} for {model!r} ({known}; all: "
                          f"{['/'.join(k) for k in list_pretrained()]}); pass a local CLIP file as clip_weights "
                          "instead") from None


def default_tag(model: str) -> str:
    """The tag the deprecated ``clip_weights="default"`` stands for."""
    tag = _DEFAULT_TAGS.get(model)
    if tag is None:
        raise ConfigError(f"no CLIP weights are shipped for {model!r}; pass the path of a local CLIP checkpoint "
                          f"(models with shipped weights: {sorted(_DEFAULT_TAGS)})")
    return tag


_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) for the life of the process."""
    stat = os.stat(path)
    key = (os.path.abspath(path), stat.st_size, stat.st_mtime_ns)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        digest = _HASH_CACHE[key] = h.hexdigest()
    return digest


def verified_path(cfg: PretrainedCfg) -> Path:
    """The registered file, after checking that its size and SHA-256 are the registry's."""
    path = cfg.path
    if not path.is_file():
        raise WeightsIntegrityError(f"the pretrained weights {cfg.model}/{cfg.tag} are missing from this "
                                    f"installation: {path}", hint="reinstall dkclip")
    size = path.stat().st_size
    if size != cfg.size:
        raise WeightsIntegrityError(f"{path}: {size} bytes, but {cfg.model}/{cfg.tag} is {cfg.size} bytes "
                                    "(damaged or replaced file)", hint="reinstall dkclip")
    digest = file_sha256(path)
    if digest != cfg.sha256:
        raise WeightsIntegrityError(f"{path}: SHA-256 {digest[:16]}… differs from the registered {cfg.sha256[:16]}… "
                                    f"of {cfg.model}/{cfg.tag} (damaged or replaced file)", hint="reinstall dkclip")
    return path


# OpenAI's published CLIP checkpoints (TorchScript archives), by the SHA-256 that is part of each file's
# official download address (openai/CLIP, clip/clip.py), with the dkclip model that fits each.
OPENAI_CLIP_FILES: dict[str, tuple[str, str | None]] = {
    "40d365715913c9da98579312b702a82c18be219cc2a73407c4526f58eba950af": ("OpenAI CLIP ViT-B/32", "dkclip-vit-b-32"),
    "5806e77cd80f8b59890b7e101eabd078d9fb84e6937f9e85e4ecb61988df416f": ("OpenAI CLIP ViT-B/16", "dkclip-vit-b-16"),
    "b8cca3fd41ae0c99ba7e8951adf17d267cdb84cd88be6f7c2e0eca1737a03836": ("OpenAI CLIP ViT-L/14", "dkclip-vit-l-14"),
    "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02": ("OpenAI CLIP ViT-L/14@336px", None),
    "afeb0e10f9e5a86da6080e35cf09123aca3b358a0c3e3b6c78a7b63bc04b6762": ("OpenAI CLIP RN50", None),
    "8fa8567bab74a42d41c5915025a8e4538c3bdbe8804a470a72f30b0d94fab599": ("OpenAI CLIP RN101", None),
    "7e526bd135e493cef0776de27d5f42653e6b4c8bf9e0f653bb11773263205fdd": ("OpenAI CLIP RN50x4", None),
    "52378b407f34354e150460fe41077663dd5b39c54cd0bfd2b27167a4a06ec9aa": ("OpenAI CLIP RN50x16", None),
    "be1cfb55d75a9666199fb2206c106743da0f6468c9d327f3e0d0a543a9919d9c": ("OpenAI CLIP RN50x64", None),
}


def identify_clip_file(path: str | os.PathLike[str]) -> str | None:
    """Which published CLIP a file is (by SHA-256), logged; None (and a note) for any other file."""
    digest = file_sha256(path)
    known = OPENAI_CLIP_FILES.get(digest)
    if known is not None:
        logger.info("%s is %s (SHA-256 %s…, as published by OpenAI)", path, known[0], digest[:12])
        return known[0]
    registered = registered_cfg_of_file(path)
    if registered is not None:
        name = f"dkclip pretrained {registered.model}/{registered.tag}"
        logger.info("%s is %s", path, name)
        return name
    logger.info("%s (SHA-256 %s…) is not one of OpenAI's published CLIP checkpoints; loading it as given",
                path, digest[:12])
    return None


def registered_cfg_of_file(path: str | os.PathLike[str]) -> PretrainedCfg | None:
    """The registered pretrained weights a file is (by SHA-256: a shipped file passed by path), else None."""
    digest = file_sha256(path)
    return next((cfg for cfg in _PRETRAINED.values() if cfg.sha256 == digest), None)


def fitting_model(path: str | os.PathLike[str]) -> str | None:
    """The dkclip model a recognised OpenAI CLIP file fits (for error messages), else None."""
    known = OPENAI_CLIP_FILES.get(file_sha256(path))
    return known[1] if known else None
