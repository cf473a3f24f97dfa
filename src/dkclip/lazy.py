"""Package names imported on first use (PEP 562), so that importing a package does not load what only some of
its names need (``import dkclip`` without torch, ``dkclip.data.decoding`` without torchvision)."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any


def lazy_exports(package: str, names: dict[str, str], namespace: dict[str, Any]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module ``__getattr__`` and ``__dir__`` of ``package`` for ``names`` (public name -> relative module,
    e.g. ``{"build_loader": ".dataset"}``; a name whose module is ``"." + name`` is that module). A name is
    imported on first access and stored in ``namespace`` (the package's ``globals()``), so later accesses are
    plain lookups."""

    def __getattr__(name: str) -> Any:
        module = names.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        imported = importlib.import_module(module, package)
        value = imported if module == "." + name else getattr(imported, name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted({*namespace, *names})

    return __getattr__, __dir__
