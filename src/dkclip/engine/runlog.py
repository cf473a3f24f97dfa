"""What a run logs: per-step JSONL, per-epoch JSONL/CSV (rewritten whole, so resume never duplicates rows) and
optional TensorBoard scalars."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text

logger = logging.getLogger(__name__)


class RunLogger:
    def __init__(self, run_dir: Path, enabled: bool, tensorboard: bool) -> None:
        self.run_dir = run_dir
        self.enabled = enabled
        self.writer = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.writer = SummaryWriter(str(run_dir / "tensorboard"))
            except ImportError:
                logger.info("tensorboard is not installed; logging to CSV/JSONL only")

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
