"""Each snippet encoded once: the CFAM outputs of a track's recent snippets, shared by the windows that overlap.

The CFAM's message tokens mix only the frames of one snippet (docs/method.md §1.2), so a snippet's features
(:class:`~dkclip.model.dkclip.SnippetFeatures`) do not depend on the window it sits in. With 2 s windows every
1 s and N = 4, each window shares two of its four snippets with the window before; at a 0.5 s stride, three.

A snippet is known by its stream, its track, the frame numbers sampled for it and a checksum of its crops, so
a hit is exact by construction: the same pixels give the same features (the pipeline cuts one crop per track
and frame; the checksum also guards windows made by hand). Windows sample their
frames on the track's snippet grid (:func:`~dkclip.predict.windows.snippet_grid_centres`), so windows that share a
snippet time also share its frames; a window off the grid (a track's end-aligned tail) simply misses.

What it holds is bounded: per track, the snippets from the start of its latest window on (a window's worth),
nothing of a track after its last window, of a stream once the next stream starts, and at most
``max_tracks`` tracks (the least recently used go first).
"""

from __future__ import annotations

import zlib
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch

from ..model.dkclip import SnippetFeatures
from .pipeline import WindowJob

SnippetKey = tuple[tuple[int, ...], int]  # the sampled frame numbers of one snippet, the CRC-32 of its crops


def snippet_keys(job: WindowJob, num_snippets: int) -> list[SnippetKey]:
    """The N snippets of a window (its crops still attached), each as its sampled frames and crops' checksum."""
    if job.crops is None:
        raise ValueError("a window without crops has no snippet keys")
    frames = job.sample_frames.reshape(num_snippets, -1)
    crops = np.ascontiguousarray(job.crops).reshape(num_snippets, -1)  # CRC-32: ~1 ms for a B/16 snippet
    return [(tuple(int(f) for f in row), zlib.crc32(pixels.data))
            for row, pixels in zip(frames, crops, strict=True)]


class SnippetCache:
    """Encoded snippets per (stream, track): :meth:`lookup` what exists, :meth:`store` what was encoded,
    :meth:`release` what no later window can use."""

    def __init__(self, max_tracks: int = 64) -> None:
        self.max_tracks = max_tracks
        self._stream = -1
        self._tracks: OrderedDict[int, dict[SnippetKey, SnippetFeatures]] = OrderedDict()
        self.hits = 0  # snippets served from the cache (statistics for benchmarks)
        self.misses = 0  # snippets encoded

    def __len__(self) -> int:
        return sum(len(t) for t in self._tracks.values())

    def begin(self, jobs: Sequence[WindowJob]) -> None:
        """Forget everything of an earlier stream (track ids restart with each input)."""
        streams = {j.stream for j in jobs}
        if len(streams) > 1:
            raise ValueError("one batch of windows mixes several streams")
        stream = streams.pop()
        if stream != self._stream:
            self._tracks.clear()
            self._stream = stream

    def lookup(self, track: int, key: SnippetKey) -> SnippetFeatures | None:
        found = self._tracks.get(track, {}).get(key)
        if found is not None:
            self._tracks.move_to_end(track)
        return found

    def store(self, track: int, key: SnippetKey, features: SnippetFeatures) -> None:
        """Keep one snippet's features (leading dimension dropped); cloned, so that the batch they were cut from
        is freed."""
        entry = self._tracks.setdefault(track, {})
        self._tracks.move_to_end(track)
        entry[key] = SnippetFeatures(features.embeddings.clone(),
                                     None if features.tokens is None else features.tokens.clone())
        while len(self._tracks) > self.max_tracks:
            self._tracks.popitem(last=False)

    def release(self, jobs: Sequence[WindowJob]) -> None:
        """After a batch: drop each track's snippets that start before its latest window (later windows start
        at or after it), and every snippet of a track whose last window this was."""
        latest: dict[int, WindowJob] = {}
        for job in jobs:
            latest[job.track] = job
        for track, job in latest.items():
            if job.last:
                self._tracks.pop(track, None)
                continue
            entry = self._tracks.get(track)
            if entry is None:
                continue
            first = int(job.sample_frames[0])
            for key in [k for k in entry if k[0][0] < first]:
                del entry[key]


def gather(rows: Sequence[Sequence[SnippetFeatures]]) -> SnippetFeatures:
    """Windows × snippets of single-snippet features -> features with leading dimensions (B, N)."""
    embeddings = torch.stack([torch.stack([s.embeddings for s in row]) for row in rows])
    tokens = None
    if rows[0][0].tokens is not None:
        tokens = torch.stack([torch.stack([s.tokens for s in row]) for row in rows])  # type: ignore[misc]
    return SnippetFeatures(embeddings, tokens)
