"""The model side of prediction: batches of windows in, one :class:`~.outputs.WindowResult` per window out.

With the snippet cache (the default for the hierarchical model) a batch is run in two steps: the snippets of
its windows that no earlier window encoded, of every face, go through the video encoder in one forward pass
(:meth:`DKClip.encode_snippets`); then MSIM, NRM, CMAM and the heads run per window on the cached snippet
features (:meth:`DKClip.integrate`). Without it, each window's T frames go through the whole model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..errors import UsageError
from ..model.dkclip import DKClipOutput, SnippetFeatures
from ..model.heads import head_probabilities
from .defaults import HEADS
from .outputs import WindowResult
from .pipeline import WindowJob
from .runtime import DEFAULT_RUNTIME, OnnxVideoRuntime, Runtime, build_runtime, resolve_device
from .snippet_cache import SnippetCache, SnippetKey, gather, snippet_keys

if TYPE_CHECKING:
    from ..model.au_evidence import AUEvidence
    from ..model.dkclip import DKClip
    from ..model.onnx import OnnxModel


class ModelRunner:
    """Runs batches of windows through the model: the eval transform of the model's config, then the model on
    ``runtime`` (:mod:`.runtime`), each snippet encoded once when ``snippet_cache``. With ``evidence``
    (:class:`~dkclip.model.au_evidence.AUEvidence` of the same model) each window also gets its action-unit
    evidence, read off the same forward pass's embeddings."""

    def __init__(self, model: DKClip | OnnxModel, head: str = "global", device: str | torch.device | None = None,
                 evidence: AUEvidence | None = None, runtime: str | Runtime | OnnxVideoRuntime = DEFAULT_RUNTIME,
                 snippet_cache: bool = True) -> None:
        from ..data.pipeline import model_transforms

        if head not in HEADS:
            raise UsageError(f"head must be one of {HEADS}, got {head!r}")
        self.device = resolve_device(device)
        self.model = model.eval().to(self.device)
        self.head = head
        self.evidence = evidence
        if isinstance(runtime, str):
            self.runtime = build_runtime(self.model, runtime, self.device)
        elif runtime.config is not model.config:  # a copy (int8) shares the config object of its model
            raise UsageError("the runtime given was built for another model")
        else:
            self.runtime = runtime
        self.cache = SnippetCache() if snippet_cache and self.runtime.snippet_encoding else None
        _, self.eval_tf = model_transforms(model.config)

    def __call__(self, jobs: Sequence[WindowJob]) -> list[WindowResult]:
        if not jobs:
            return []
        if any(j.crops is None for j in jobs):
            raise ValueError("a window was already run (its crops are released)")
        out = self._forward(jobs) if self.cache is None else self._cached(jobs)
        probs = head_probabilities(out)[self.head].cpu().numpy()
        scores = out.snippet_scores.float().cpu().numpy()
        kept = out.kept.cpu().numpy().astype(bool)
        aus = self.evidence.score_output(out) if self.evidence is not None else None
        results = []
        for i, job in enumerate(jobs):
            job.crops = None  # the pixels are not needed any more
            results.append(WindowResult(job, probs[i], scores[i], kept[i],
                                        aus=None if aus is None else aus.clip[i],
                                        snippet_aus=None if aus is None else aus.snippets[i]))
        return results

    def _transform(self, crops: np.ndarray) -> torch.Tensor:
        """(B, T, h, w, 3) uint8 crops -> the model's input (B, T, 3, S, S) on its device."""
        b, t = crops.shape[:2]
        frames = torch.from_numpy(crops).flatten(0, 1).permute(0, 3, 1, 2)  # one spatial transform for all
        video = self.eval_tf.transform(frames)
        return video.view(b, t, *video.shape[1:]).to(self.device, non_blocking=True)

    def _forward(self, jobs: Sequence[WindowJob]) -> DKClipOutput:
        return self.runtime.forward(self._transform(np.stack([j.crops for j in jobs])))  # type: ignore[misc]

    def _cached(self, jobs: Sequence[WindowJob]) -> DKClipOutput:
        assert self.cache is not None  # the caller checked
        cache = self.cache
        cache.begin(jobs)
        n = self.model.config.num_snippets
        keys = [snippet_keys(j, n) for j in jobs]
        # The snippets no earlier batch encoded, once each, in the order they first appear.
        missing: dict[tuple[int, SnippetKey], tuple[int, int]] = {}
        for i, (job, row) in enumerate(zip(jobs, keys, strict=True)):
            for s, key in enumerate(row):
                if (job.track, key) not in missing and cache.lookup(job.track, key) is None:
                    missing[(job.track, key)] = (i, s)
        if missing:
            per = jobs[0].sample_frames.shape[0] // n
            crops = np.stack([jobs[i].crops[s * per:(s + 1) * per] for i, s in missing.values()])  # type: ignore[index]
            encoded = self.runtime.encode_snippets(self._transform(crops))
            for row_index, (track, key) in enumerate(missing):
                cache.store(track, key, encoded[row_index])
        cache.misses += len(missing)
        cache.hits += len(jobs) * n - len(missing)
        rows: list[list[SnippetFeatures]] = []
        for job, row in zip(jobs, keys, strict=True):
            found = [cache.lookup(job.track, key) for key in row]
            assert all(f is not None for f in found)  # stored above
            rows.append(found)  # type: ignore[arg-type]
        out = self.runtime.integrate(gather(rows))
        cache.release(jobs)
        return out
