"""What a run logs, and how it reads in a file as well as on a terminal.

- ``steps.jsonl``: one line per ``run.log_every`` optimiser steps (created at the start of every run, so it exists
  for any run); on resume, lines past the checkpoint's step are dropped, so an interrupted and resumed run has no
  duplicated or missing rows.
- ``metrics.jsonl`` / ``metrics.csv``: per epoch, rewritten whole from the history each epoch.
- ``console.log``: what the run printed and logged, also saved in the run directory.
- TensorBoard scalars when ``tensorboard`` is installed and enabled.

Progress: a tqdm bar on a terminal; otherwise (a file, a pipe, a batch system) one plain line every
``run.log_every`` steps or 30 seconds, whichever comes first: loss, LR in scientific notation, clips/s and ETA.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text

logger = logging.getLogger(__name__)

CONSOLE_NAME = "console.log"


def format_duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def format_value(key: str, value: Any) -> str:
    """Human-facing form: UAR/WAR in percent, learning rates in scientific notation, losses to 4 digits."""
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value):
        return "nan"
    if key.endswith(("_uar", "_war")) or key in ("uar", "war"):
        return f"{100 * value:.2f}%"
    if key == "lr" or key.endswith("_lr"):
        return f"{value:.2e}"
    if key.endswith("clips_per_s"):
        return f"{value:.1f}"
    return f"{value:.4g}"


def format_epoch(record: dict[str, Any]) -> str:
    """``epoch 2: train_loss 2.494, ..., lr 1.00e-04, ..., val_global_uar 78.57%, ...``."""
    parts = [f"{k} {format_value(k, v)}" for k, v in record.items() if k not in ("epoch",)]
    return f"epoch {record.get('epoch')}: " + ", ".join(parts)


class PlainProgress:
    """Progress for logs: a line every ``every`` steps or ``seconds``, whichever comes first."""

    def __init__(self, total: int, initial: int, desc: str, every: int, seconds: float = 30.0,
                 emit: Any = None) -> None:
        self.total, self.done, self.desc = total, initial, desc
        self.every, self.seconds = max(1, every), seconds
        self.started = self.last = time.perf_counter()
        self.start_done = initial
        self.calls = 0
        self.emit = emit or (lambda text: print(text, flush=True))

    def update(self, n: int = 1) -> None:
        self.done += n

    def set_postfix(self, **values: str) -> None:
        """Called once per optimiser step with the values to show."""
        self.calls += 1
        now = time.perf_counter()
        if self.calls % self.every == 0 or now - self.last >= self.seconds or self.done >= self.total:
            self.last = now
            rate = (self.done - self.start_done) / max(now - self.started, 1e-9)
            eta = (self.total - self.done) / rate if rate > 0 else float("nan")
            extra = " ".join(f"{k} {v}" for k, v in values.items())
            eta_text = format_duration(eta) if math.isfinite(eta) else "?"
            self.emit(f"{self.desc}: {self.done}/{self.total} {extra} ETA {eta_text}")

    def close(self) -> None:
        pass


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.writer = None
        self._handler: logging.Handler | None = None
        if enabled:
            (run_dir / "steps.jsonl").touch()
            # Everything the dkclip loggers say during the run also goes to console.log.
            self._handler = logging.FileHandler(run_dir / CONSOLE_NAME, encoding="utf-8")
            self._handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
            self._handler.setLevel(logging.INFO)
            logging.getLogger("dkclip").addHandler(self._handler)
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                logger.info("tensorboard is not installed; logging to CSV/JSONL only")

    def emit(self, text: str) -> None:
        """Print a line for the user (stdout) and keep it in console.log."""
        if not self.enabled:
            return
        print(text, flush=True)
        with (self.run_dir / CONSOLE_NAME).open("a", encoding="utf-8") as fh:
            fh.write(text + "\n")

    def progress(self, total: int, initial: int, desc: str, show: bool, every: int) -> Any:
        """A tqdm bar on a terminal, plain lines otherwise; None when progress is off or on other ranks."""
        if not (self.enabled and show):
            return None
        if sys.stdout.isatty():
            from tqdm import tqdm

            return tqdm(total=total, initial=initial, desc=desc, dynamic_ncols=True, leave=False)
        return PlainProgress(total, initial, desc, every, emit=self.emit)

    def truncate_steps(self, last_step: int) -> None:
        """Drop step records past ``last_step`` (written after the checkpoint a resumed run starts from)."""
        path = self.run_dir / "steps.jsonl"
        if not self.enabled or not path.is_file():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                if json.loads(line).get("step", 0) <= last_step:
                    kept.append(line)
            except ValueError:
                continue  # a line cut by the kill
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))

    def step(self, step: int, values: dict[str, float]) -> None:
        if not self.enabled:
            return
        with (self.run_dir / "steps.jsonl").open("a") as fh:
            fh.write(json.dumps({"step": step, **values}) + "\n")
        if self.writer is not None:
            for key, value in values.items():
                self.writer.add_scalar(f"train/{key}", value, step)

    def epoch(self, history: list[dict[str, Any]]) -> None:
        """Rewrite the per-epoch JSONL and CSV from the full history (atomic, so resume never duplicates rows)."""
        if not self.enabled:
            return
        atomic_write_text(self.run_dir / "metrics.jsonl", "".join(json.dumps(h) + "\n" for h in history))
        keys = sorted({k for h in history for k in h}, key=lambda k: (k != "epoch", k))
        rows = [",".join(keys)] + [",".join("" if h.get(k) is None else str(h[k]) for k in keys) for h in history]
        atomic_write_text(self.run_dir / "metrics.csv", "\n".join(rows) + "\n")
        if self.writer is not None and history:
            last = history[-1]
            for key, value in last.items():
                if key != "epoch" and isinstance(value, int | float):
                    self.writer.add_scalar(f"epoch/{key}", value, last["epoch"])
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None
        if self._handler is not None:
            logging.getLogger("dkclip").removeHandler(self._handler)
            self._handler.close()
            self._handler = None
