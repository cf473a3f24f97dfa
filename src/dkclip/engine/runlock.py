"""One process owns a run directory: a lock file with the owner's pid and host, taken before anything is written.

A second training into the same directory fails at once, naming the owner. A lock left by a process that no
longer exists on this host (killed, crashed) is stale: it is reported and replaced. A lock from another host
cannot be checked from here: the error says how to clear it once that run is known to be gone.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ..errors import DKClipError

logger = logging.getLogger(__name__)

LOCK_NAME = ".dkclip.lock"


class RunLockedError(DKClipError):
    """Another process owns the run directory."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class RunLock:
    """``with RunLock(run_dir): ...`` or ``acquire()`` / ``release()``."""

    def __init__(self, run_dir: str | Path) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self.held = False

    def owner(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            return {"pid": -1, "host": "?", "started": "?"}  # unreadable: treated as held, never as stale
        return data if isinstance(data, dict) else {"pid": -1, "host": "?", "started": "?"}

    def acquire(self) -> RunLock:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join(sys.argv)}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self.owner()
                if owner is None:
                    continue  # released between our two calls
                pid, host = int(owner.get("pid", -1)), str(owner.get("host", "?"))
                if host == me["host"] and pid > 0 and pid != me["pid"] and not _alive(pid):
                    logger.warning("removing a stale lock of %s: process %d on %s (started %s) is gone",
                                   self.path.parent, pid, host, owner.get("started", "?"))
                    self.path.unlink(missing_ok=True)
                    continue
                if host == me["host"] and pid == me["pid"]:
                    raise RunLockedError(f"{self.path.parent} is already locked by this process") from None
                raise RunLockedError(
                    f"{self.path.parent} is in use by process {pid} on {host} (since {owner.get('started', '?')}: "
                    f"{owner.get('command', '?')})",
                    hint=f"wait for it, or if that run is gone (another machine, or a reused pid), delete "
                         f"{self.path} and try again") from None
            with os.fdopen(fd, "w") as fh:
                json.dump(me, fh)
            self.held = True
            return self
        raise RunLockedError(f"could not lock {self.path.parent}")

    def release(self) -> None:
        if self.held:
            owner = self.owner()
            if owner is not None and owner.get("pid") == os.getpid():
                self.path.unlink(missing_ok=True)
            self.held = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()


def remove_stale_temporaries(run_dir: Path) -> list[Path]:
    """Delete temporary files a killed atomic write left behind (``.<name>.<random>.tmp``); the lock guarantees
    no other process is writing here."""
    removed = []
    for folder in (run_dir, run_dir / "best"):
        if folder.is_dir():
            for tmp in folder.glob(".*.tmp"):
                tmp.unlink(missing_ok=True)
                removed.append(tmp)
    if removed:
        logger.info("removed %d temporary files left by an interrupted save in %s", len(removed), run_dir)
    return removed
