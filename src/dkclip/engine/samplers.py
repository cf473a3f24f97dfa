"""Index samplers that make training order a pure function of (seed, epoch) and resumable mid-epoch.

The global order of an epoch is one permutation. Each optimiser step consumes ``effective_batch`` consecutive
entries, cut into chunks of ``batch_size``; chunk c goes to rank c mod W. So a run on W processes with A
accumulation steps sees exactly the samples of a run on one process with W·A accumulation steps, step by step.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import Sampler


class ChunkedEpochSampler(Sampler[int]):
    def __init__(self, num_samples: int, batch_size: int, accum_steps: int, rank: int = 0, world_size: int = 1,
                 seed: int = 0, shuffle: bool = True) -> None:
        self.num_samples = num_samples
        self.batch_size = batch_size
        self.accum_steps = accum_steps
        self.rank = rank
        self.world_size = world_size
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0
        self.start_chunk = 0  # chunks (per rank) to skip, for mid-epoch resume
        self.global_batch = batch_size * accum_steps * world_size
        self.steps_per_epoch = num_samples // self.global_batch
        if self.steps_per_epoch == 0:
            raise ValueError(f"{num_samples} training clips are fewer than one optimiser step's "
                             f"{self.global_batch} (batch_size × accumulation × world size)")

    @property
    def chunks_per_epoch(self) -> int:
        """Loader iterations per epoch on each rank."""
        return self.steps_per_epoch * self.accum_steps

    def set_epoch(self, epoch: int, start_chunk: int = 0) -> None:
        self.epoch = epoch
        self.start_chunk = start_chunk

    def order(self) -> torch.Tensor:
        if not self.shuffle:
            return torch.arange(self.num_samples)
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.num_samples, generator=gen)

    def global_chunk(self, local_chunk: int) -> int:
        """The global chunk index of this rank's ``local_chunk``-th iteration (seeds per-batch randomness)."""
        return local_chunk * self.world_size + self.rank

    def __iter__(self) -> Iterator[int]:
        order = self.order()
        for local in range(self.start_chunk, self.chunks_per_epoch):
            start = self.global_chunk(local) * self.batch_size
            yield from order[start:start + self.batch_size].tolist()

    def __len__(self) -> int:
        return (self.chunks_per_epoch - self.start_chunk) * self.batch_size


class ShardSampler(Sampler[int]):
    """Evaluation shard of rank r: indices r, r+W, ... (no padding, so gathered results have no duplicates)."""

    def __init__(self, num_samples: int, rank: int = 0, world_size: int = 1) -> None:
        self.indices = list(range(rank, num_samples, world_size))

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices)

    def __len__(self) -> int:
        return len(self.indices)
