"""torch's intra-op thread count for the duration of a block, then restored: a library call that asks for N
threads (``pretrain(threads=N)``, MTCNN's ``num_threads``) must not leave the rest of the process on N."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block on ``count`` torch threads (None or 0: leave torch's setting alone)."""
    if not count:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(before)
