"""Starting and stopping the app: a temporary folder of its own (uploads, sessions, results), the model built
before the first request, Gradio bound to localhost unless told otherwise, and everything removed on exit
(Ctrl-C or SIGTERM).

Gradio is pointed at that folder for its uploads (``GRADIO_TEMP_DIR``), told not to phone home (analytics and
its version check off) and given a theme with system fonts, so that the page loads nothing from the internet.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UsageError
from ..predict.defaults import DEFAULT_RUNTIME

if TYPE_CHECKING:
    from ..predict.models import ModelChoice
    from .engine import AppEngine

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860


def _gradio_environment(root: Path) -> None:
    """Set before Gradio is imported: it reads these once."""
    os.environ["GRADIO_TEMP_DIR"] = str(root / "uploads")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ.setdefault("GRADIO_SERVER_NAME", DEFAULT_HOST)


def free_port(host: str = DEFAULT_HOST) -> int:
    """A port nothing listens on now (for ``--port 0``)."""
    import socket

    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM stops the app as Ctrl-C does, so that its temporary folder is removed (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def theme() -> Any:
    import gradio as gr

    # System fonts: Gradio's default theme fetches Google Fonts, which a machine offline waits for.
    return gr.themes.Soft(font=["ui-sans-serif", "system-ui", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "monospace"])


def serve(choice: ModelChoice, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, device: str | None = None,
          max_upload_mb: float | None = None, cache_mb: float | None = None, runtime: str = DEFAULT_RUNTIME,
          on_ready: Callable[[str], None] | None = None) -> None:
    """Run the app until Ctrl-C or SIGTERM. ``on_ready(url)`` is called once it answers. ``runtime``: as
    ``dkclip predict --runtime`` (built once, at start-up)."""
    from .engine import DEFAULT_CACHE_MB, DEFAULT_MAX_UPLOAD_MB

    choice.check()
    if port < 0 or port > 65535:
        raise UsageError(f"--port must be in 0..65535, got {port}")
    upload_mb = DEFAULT_MAX_UPLOAD_MB if max_upload_mb is None else max_upload_mb  # 0 is not "the default"
    root = Path(tempfile.mkdtemp(prefix="dkclip-app-"))
    _gradio_environment(root)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # Gradio's own start-up requests, one line each
    page = None
    try:
        with _sigterm_as_interrupt():
            engine = _engine(choice, root, device, upload_mb, DEFAULT_CACHE_MB if cache_mb is None else cache_mb,
                             runtime)
            page = _launch(engine, host, port or free_port(host), engine.max_upload_bytes)
            url = f"http://{'[' + host + ']' if ':' in host else host}:{page.server_port}/"
            if on_ready is not None:
                on_ready(url)
            page.block_thread()  # returns on Ctrl-C (and on SIGTERM, turned into one above)
    except KeyboardInterrupt:
        pass
    finally:
        if page is not None:
            page.close()
        shutil.rmtree(root, ignore_errors=True)


def _engine(choice: ModelChoice, root: Path, device: str | None, max_upload_mb: float, cache_mb: float,
            runtime: str) -> AppEngine:
    from .engine import AppEngine

    engine = AppEngine(choice, root, device=device, max_upload_mb=max_upload_mb, cache_mb=cache_mb, runtime=runtime)
    engine.load()  # a model that cannot be loaded fails now, in one line, not at the first request
    return engine


def _launch(engine: AppEngine, host: str, port: int, max_bytes: int) -> Any:
    from .ui import CSS, build_ui

    page = build_ui(engine)
    page.queue(default_concurrency_limit=1)
    try:
        page.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, share=False,
                    inbrowser=False, show_error=False, ssr_mode=False, max_file_size=max_bytes,
                    allowed_paths=[str(engine.root)], footer_links=[], theme=theme(), css=CSS)
    except OSError as exc:
        raise UsageError(f"cannot serve on {host}:{port}: {exc}", hint="choose another --port") from None
    return page
