"""Stopping a training run on SIGTERM (what SLURM, docker and Kubernetes send) the way Ctrl-C does: at the next
optimiser step, with a resumable checkpoint, instead of losing up to an epoch. Kept apart from the training loop,
which only asks :attr:`StopSignal.requested` and wraps its loaders in :func:`sigterm_safe`."""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable
from typing import Any

from ..data.dataset import ClipLoader
from ..errors import DKClipError

logger = logging.getLogger("dkclip.engine.trainer")  # the trainer's logger, as when this lived there


class TrainingStopped(DKClipError):
    """A stop was requested (SIGTERM); a resumable checkpoint was saved."""

    exit_code = 143


class StopSignal:
    """Turns SIGTERM (what SLURM, docker and Kubernetes send) into a request the loop honours at the next
    optimiser step: the checkpoint is then saved as on Ctrl-C instead of losing up to an epoch.

    SLURM signals the whole process group, so the DataLoader workers get the same SIGTERM; PyTorch's own worker
    handler would die of it (and the main process with a "worker killed" error). The loaders of a training run
    therefore give their workers :func:`_worker_sigterm` (see :func:`sigterm_safe`).
    """

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None
        self._pid = os.getpid()

    def __enter__(self) -> StopSignal:
        self._pid = os.getpid()
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if os.getpid() != self._pid:  # a process forked with this handler
            _worker_sigterm(signum, frame)
            return
        self.requested = True
        logger.warning("SIGTERM received: stopping at the next optimiser step and saving a checkpoint")

    def __exit__(self, *exc: object) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)


def _worker_sigterm(signum: int, frame: Any) -> None:
    """A loader worker leaves the first SIGTERM (the process group's) to the main process, which stops the loader
    in order; the next one (the loader's own shutdown, if a worker does not exit) ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _worker_init(init: Callable[[int], None] | None, worker_id: int) -> None:
    signal.signal(signal.SIGTERM, _worker_sigterm)
    if init is not None:
        init(worker_id)


def sigterm_safe(loader: ClipLoader) -> ClipLoader:
    """``loader`` with workers that survive a SIGTERM sent to the whole process group (see :class:`StopSignal`)."""
    inner = loader.loader
    if inner.num_workers > 0:
        inner.worker_init_fn = functools.partial(_worker_init, inner.worker_init_fn)
    return loader
