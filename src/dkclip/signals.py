"""Stopping cleanly on Ctrl-C and SIGTERM, and never in the middle of a commit.

- :func:`sigterm_interrupts`: while active, SIGTERM (what ``kill``, SLURM, docker and Kubernetes send) raises
  :class:`Terminated`, a :class:`KeyboardInterrupt`, so the code that cleans up after Ctrl-C cleans up after
  SIGTERM too; the command line exits with 143 for it (130 for Ctrl-C).
- :func:`deferred_signals`: a short critical section (moving a finished set of files into place) that Ctrl-C and
  SIGTERM cannot cut in two: a signal that arrives inside it is delivered when it ends.

Both only act in the main thread (Python runs signal handlers there); elsewhere they do nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_DEFERRABLE = (signal.SIGINT, signal.SIGTERM)


class Terminated(KeyboardInterrupt):
    """SIGTERM received while :func:`sigterm_interrupts` was active."""

    exit_code = 143


def interrupt_exit_code(exc: KeyboardInterrupt) -> int:
    """143 for SIGTERM, 130 for Ctrl-C (128 + the signal number, as a shell reports it)."""
    return int(getattr(exc, "exit_code", 130))


def signal_name(exc: KeyboardInterrupt) -> str:
    return "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def sigterm_interrupts() -> Iterator[None]:
    if not _main_thread():
        yield
        return

    def handle(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handle)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def deferred_signals() -> Iterator[None]:
    if not _main_thread():
        yield
        return
    pending: list[int] = []

    def hold(signum: int, frame: FrameType | None) -> None:
        pending.append(signum)

    previous: dict[int, Any] = {s: signal.signal(s, hold) for s in _DEFERRABLE}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in dict.fromkeys(pending):  # each signal once, in arrival order
            signal.raise_signal(s)
