"""``dkclip app``: the browser interface of ``dkclip predict`` (Gradio), for people who do not use a terminal.

A thin layer over :class:`dkclip.predict.Predictor`: :mod:`.engine` runs a tab's uploads and writes the same
files as the command line (:func:`dkclip.predict.batch.save_result`), :mod:`.caching` keeps decoded frames and
detected faces for reruns with other settings, :mod:`.ui` is the page and :mod:`.server` starts and stops it.
Only :mod:`.ui` and :mod:`.server` import Gradio (``pip install dkclip[app]``); nothing outside this package does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import AppEngine
    from .server import serve

__all__ = ["AppEngine", "serve"]


def __getattr__(name: str) -> Any:
    # Lazy: ``dkclip app --help`` and the engine's tests load neither Gradio nor torch through this package.
    if name == "AppEngine":
        from .engine import AppEngine

        return AppEngine
    if name == "serve":
        from .server import serve

        return serve
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
