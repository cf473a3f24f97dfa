"""Run independent rendering tasks in worker processes (or inline), in order, reporting progress."""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def run_tasks(fn: Callable[[T], dict[str, Any]], tasks: Sequence[T], workers: int,
              progress: Callable[[int, int], None] | None = None) -> list[dict[str, Any]]:
    """``[fn(t) for t in tasks]``, over ``workers`` processes when more than one; ``progress(done, total)``."""
    results: list[dict[str, Any]] = []

    def done(res: dict[str, Any]) -> None:
        results.append(res)
        if progress:
            progress(len(results), len(tasks))

    if workers > 1:
        # fork where available: workers inherit the loaded modules instead of re-importing them
        ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
        with ctx.Pool(workers) as pool:
            for res in pool.imap(fn, tasks, chunksize=1):
                done(res)
    else:
        for task in tasks:
            done(fn(task))
    return results
