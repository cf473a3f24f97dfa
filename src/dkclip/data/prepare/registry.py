"""The registry of split-file layouts: each layout module registers its converter under the name the command
line uses (``dkclip prepare lists <name>``), as timm registers its models."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from .report import PrepareReport

Preparer = Callable[..., PrepareReport]
P = TypeVar("P", bound=Preparer)

# name -> converter(labels_dir, frames_root, out_dir, **options); filled as the layout modules are imported.
PREPARERS: dict[str, Preparer] = {}


def register_preparer(name: str) -> Callable[[P], P]:
    """Decorator: make ``fn`` the converter of the layout ``name``."""

    def add(fn: P) -> P:
        if name in PREPARERS:
            raise ValueError(f"split-file layout {name!r} is registered twice")
        PREPARERS[name] = fn
        return fn

    return add


def list_layouts() -> list[str]:
    """The names of the registered layouts."""
    return sorted(PREPARERS)
