"""The clip Dataset and its loader: records → (sample indices → decoded frames → transform) → batches.

The parts are swappable (pytorchvideo style): a :class:`ClipDataset` takes any ``frame_sampler`` (``n, generator →
(V, T) indices``), ``reader`` (``count``/``read``) and ``transform`` (``uint8 (T,3,H,W), generator → float``).
:func:`build_dataset` wires the defaults from a list file.

**A sample** is a dict::

    video          float32 (T, 3, S, S), or (V, T, 3, S, S) for multi-view testing (V = clips × crops)
    label          int (0-based)
    index          int, the record's position in the dataset
    path           str, the resolved media path
    where          str, "list_file:line"
    frames_listed  int, the list's num_frames column (-1 when the format has none)
    frames_on_disk int, the real count, which is what the sampler used
    skipped        list of dicts describing bad samples this one stands in for (skip mode)

**Bad input** (missing path, empty folder, corrupt image/video, zero-length video, label out of range):

- ``on_error="raise"`` (default): a :class:`~dkclip.data.errors.SampleError` naming the list file, line and
  path. Inside a DataLoader worker it propagates to the main process (PyTorch re-raises worker exceptions), so
  a worker never dies silently.
- ``on_error="skip"``: each bad sample is logged once where it happens and recorded. Labels are checked when
  the dataset is built (those records are removed up front). Media errors are found when a sample is loaded,
  and then ``skip_mode`` decides:

  - ``"replace"`` (default for training): return another randomly drawn sample instead, carrying the bad
    one's description in ``skipped``. Batches keep their size, which mixup and ``drop_last`` expect.
  - ``"drop"`` (default for testing): return a marker that :func:`collate_clips` removes, so evaluation
    never counts a clip twice. A batch can come out smaller (or empty: :class:`ClipLoader` skips those).

  Counting happens in the main process: :class:`ClipLoader` collects ``skipped`` entries from the batches
  (workers cannot share counters) into its :class:`DataReport`; ``dataset.skipped`` holds what this process
  saw itself (construction-time label errors, plus everything when ``num_workers=0``).

**num_frames check**: every sample reports the listed and the on-disk count; :class:`ClipLoader` gathers the
disagreements and logs **one** summary line at the end of the first pass over the data (and again only if a
later pass finds new ones). The on-disk count is always the one used.

**Determinism**: all randomness (indices, crops, flips, jitter) comes from the dataset's ``torch.Generator``.
:func:`worker_init_fn` reseeds it in each worker from the seed PyTorch gives that worker, which
:func:`build_loader` derives from its own seeded generator: the same seed and worker count give the same
batches on every run. With ``num_workers=0`` the generator is seeded from ``seed`` once.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from .annotations import PathRewrite, VideoRecord, load_annotations
from .errors import DataError, MediaError, SampleError
from .media import AutoReader, MediaReader
from .sampling import FrameSampler
from .transforms import build_transform

logger = logging.getLogger(__name__)

OnError = Literal["raise", "skip"]
SkipMode = Literal["replace", "drop"]


class ClipTransform(Protocol):
    def __call__(self, video: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor: ...


@dataclass(frozen=True)
class SkippedSample:
    """A bad sample: which record, where it is listed, and why it was skipped."""

    index: int
    path: str
    where: str
    reason: str


# Errors a reader or decoder may raise for bad media (turned into MediaError in ClipDataset._read). Anything
# raised outside the reading step (the transform, our own code) always propagates.
_MEDIA_FAILURES: tuple[type[BaseException], ...] = (DataError, OSError, ValueError, RuntimeError, EOFError)


class ClipDataset(Dataset[dict[str, Any]]):
    """Video clips from :class:`VideoRecord` objects (see the module docstring)."""

    def __init__(self, records: Sequence[VideoRecord], *, frame_sampler: Callable[..., np.ndarray],
                 transform: ClipTransform, reader: MediaReader | None = None, num_classes: int | None = None,
                 on_error: OnError = "raise", skip_mode: SkipMode = "replace", seed: int = 0,
                 max_replacements: int = 32) -> None:
        if on_error not in ("raise", "skip"):
            raise ValueError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
        if skip_mode not in ("replace", "drop"):
            raise ValueError(f"skip_mode must be 'replace' or 'drop', got {skip_mode!r}")
        self.frame_sampler = frame_sampler
        self.transform = transform
        self.reader: MediaReader = reader if reader is not None else AutoReader(
            getattr(transform, "min_source_short_side", None))
        self.num_classes = num_classes
        self.on_error = on_error
        self.skip_mode = skip_mode
        self.max_replacements = max_replacements
        self.skipped: list[SkippedSample] = []
        self._bad: set[int] = set()
        self.generator = torch.Generator()
        self.seed = seed
        self.epoch: int | None = None  # set by set_epoch(): per-sample seeding
        self.reseed(seed)
        self.records: list[VideoRecord] = []
        for rec in records:
            bad = num_classes is not None and not 0 <= rec.label < num_classes
            if rec.label < 0 or bad:
                reason = f"label {rec.label} out of range [0, {num_classes if num_classes else 'inf'})"
                self._bad_sample(-1, rec, reason)
                continue
            self.records.append(rec)

    def reseed(self, seed: int) -> None:
        """Restart the random stream (called per worker by :func:`worker_init_fn`)."""
        self.generator.manual_seed(int(seed) % (2**63))

    def set_epoch(self, epoch: int) -> None:
        """Seed every sample's randomness from (seed, epoch, index) from now on.

        Augmentation then no longer depends on which worker loads a sample or in which order, so a training
        run resumed mid-epoch, or run with another number of workers or processes, sees identical clips.
        """
        self.epoch = epoch

    def _seed_sample(self, index: int) -> None:
        if self.epoch is not None:
            state = np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1, np.uint64)[0]
            self.generator.manual_seed(int(state) % (2**63))

    def __len__(self) -> int:
        return len(self.records)

    def _bad_sample(self, index: int, rec: VideoRecord, reason: str) -> SkippedSample:
        if self.on_error == "raise":
            raise SampleError.at(rec.source_file, rec.line_no, rec.path, reason)
        entry = SkippedSample(index, rec.path, rec.where, reason)
        self.skipped.append(entry)
        logger.warning("skipping bad sample %s (%s): %s", rec.where, rec.path, reason)
        return entry

    def _read(self, rec: VideoRecord) -> tuple[int, np.ndarray, list[np.ndarray]]:
        """(frames on disk, sampled indices, decoded frames) of one record. Failures of the reader (counting or
        decoding) are failures to *read the media* and come out as :class:`MediaError`; nothing else is a bad
        sample."""
        n = self._media(rec.path, self.reader.count)
        if n <= 0:
            kind = "zero-length video" if os.path.isfile(rec.path) else "empty frame folder (no jpg/jpeg/png files)"
            raise MediaError.at(rec.path, kind)
        indices = np.asarray(self.frame_sampler(n, self.generator))
        frames = self._media(rec.path, lambda path: self.reader.read(path, indices.reshape(-1)))
        return n, indices, frames

    @staticmethod
    def _media(path: str, step: Callable[[str], Any]) -> Any:
        try:
            return step(path)
        except MediaError:
            raise
        except _MEDIA_FAILURES as exc:  # a decoder's own error type
            raise MediaError.at(path, f"{type(exc).__name__}: {exc}") from exc

    def load(self, index: int) -> dict[str, Any]:
        """Load one sample, raising :class:`MediaError` on bad media. Errors of the transform (or of any other
        code) propagate unchanged: they are bugs or misconfiguration, never a reason to skip a sample."""
        rec = self.records[index]
        n, indices, frames = self._read(rec)
        views, t = (1, indices.shape[0]) if indices.ndim == 1 else indices.shape
        clip = torch.from_numpy(np.stack(frames)).permute(0, 3, 1, 2)  # (V*T, 3, H, W) uint8
        outs = [self.transform(clip[v * t:(v + 1) * t], self.generator) for v in range(views)]
        # One view: (T, ...) or (crops, T, ...). Several: each (T, ...) or (crops, T, ...) → (V*crops, T, 3, S, S).
        video = outs[0] if views == 1 else torch.cat([o.unsqueeze(0) if o.dim() == 4 else o for o in outs])
        return {"video": video, "label": rec.label, "index": index, "path": rec.path, "where": rec.where,
                "frames_listed": -1 if rec.num_frames is None else rec.num_frames, "frames_on_disk": n,
                "skipped": []}

    def __getitem__(self, index: int) -> dict[str, Any]:
        self._seed_sample(index)
        try:
            return self.load(index)
        except MediaError as exc:
            rec = self.records[index]
            reason = exc.reason
            if self.on_error == "raise":
                raise SampleError.at(rec.source_file, rec.line_no, rec.path, reason) from exc
            skipped = [self._bad_sample(index, rec, reason)]
            self._bad.add(index)
        if self.skip_mode == "drop":
            return {"video": None, "index": index, "skipped": [asdict(s) for s in skipped]}
        return self._replacement(skipped)

    def _replacement(self, skipped: list[SkippedSample]) -> dict[str, Any]:
        for _ in range(self.max_replacements):
            if len(self._bad) >= len(self.records):
                break
            j = int(torch.randint(len(self.records), (), generator=self.generator))
            if j in self._bad:
                continue
            try:
                sample = self.load(j)
            except MediaError as exc:
                reason = exc.reason
                skipped.append(self._bad_sample(j, self.records[j], reason))
                self._bad.add(j)
                continue
            sample["skipped"] = [asdict(s) for s in skipped]
            return sample
        raise DataError(f"no readable replacement found after {len(skipped)} bad samples "
                        f"(last: {skipped[-1].where} {skipped[-1].path}: {skipped[-1].reason})")

    def summary(self) -> str:
        """What this process skipped (for a run summary, prefer :attr:`ClipLoader.report`)."""
        return f"{len(self.skipped)} bad samples skipped in this process ({len(self.records)} records)"


def build_dataset(list_file: str | os.PathLike[str], mode: Literal["train", "test"] = "train", *,
                  num_frames: int = 16, image_size: int = 224, root: str | os.PathLike[str] | None = None,
                  rewrites: Iterable[PathRewrite | str] | None = None, fmt: str = "auto",
                  class_names: Sequence[str] | None = None, num_classes: int | None = None,
                  normalize: str | tuple[Sequence[float], Sequence[float]] = "imagenet",
                  short_clip: Literal["loop", "pad"] = "loop", num_clips: int = 1,
                  view_mode: Literal["uniform", "random"] = "uniform", num_crops: Literal[1, 3] = 1,
                  on_error: OnError = "raise", skip_mode: SkipMode | None = None, min_listed_frames: int = 0,
                  seed: int = 0, **train_options: Any) -> ClipDataset:
    """A :class:`ClipDataset` for a list file with the paper's sampling and transforms for ``mode``.

    ``num_clips``×``num_crops`` > 1 gives multi-view test samples. ``min_listed_frames=3`` reproduces the
    authors' filter on the list's num_frames column. ``train_options`` go to :class:`TrainTransform`.
    ``skip_mode`` defaults to ``"replace"`` for train and ``"drop"`` for test.
    """
    if num_classes is None and class_names:
        num_classes = len(class_names)
    records = load_annotations(list_file, fmt=fmt, root=root, rewrites=rewrites, class_names=class_names)
    if min_listed_frames > 0:
        kept = [r for r in records if r.num_frames is None or r.num_frames >= min_listed_frames]
        if len(kept) < len(records):
            logger.info("%s: dropped %d clips listed with fewer than %d frames", list_file,
                        len(records) - len(kept), min_listed_frames)
        records = kept
    frame_sampler = FrameSampler(num_frames=num_frames, mode=mode, short_clip=short_clip, num_views=num_clips,
                                 view_mode=view_mode)
    transform = build_transform(mode, image_size, normalize=normalize, num_crops=num_crops, **train_options)
    return ClipDataset(records, frame_sampler=frame_sampler, transform=transform, num_classes=num_classes,
                       on_error=on_error, skip_mode=skip_mode or ("replace" if mode == "train" else "drop"),
                       seed=seed)


def collate_clips(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack samples into a batch; drop the markers of skipped samples and gather their descriptions."""
    skipped = [s for sample in samples for s in sample.get("skipped", [])]
    good = [s for s in samples if s.get("video") is not None]
    if not good:
        return {"video": torch.empty(0), "label": torch.empty(0, dtype=torch.long),
                "index": torch.empty(0, dtype=torch.long), "path": [], "where": [],
                "frames_listed": torch.empty(0, dtype=torch.long), "frames_on_disk": torch.empty(0, dtype=torch.long),
                "skipped": skipped}
    return {
        "video": torch.stack([s["video"] for s in good]),
        "label": torch.tensor([s["label"] for s in good], dtype=torch.long),
        "index": torch.tensor([s["index"] for s in good], dtype=torch.long),
        "path": [s["path"] for s in good],
        "where": [s["where"] for s in good],
        "frames_listed": torch.tensor([s["frames_listed"] for s in good], dtype=torch.long),
        "frames_on_disk": torch.tensor([s["frames_on_disk"] for s in good], dtype=torch.long),
        "skipped": skipped,
    }


def worker_init_fn(worker_id: int) -> None:
    """Seed a DataLoader worker: the dataset's generator, numpy's and Python's global RNGs, all from the
    per-worker seed PyTorch derives from the loader's generator (so runs are reproducible)."""
    info = get_worker_info()
    seed = torch.initial_seed() if info is None else info.seed
    dataset = info.dataset if info is not None else None
    if hasattr(dataset, "reseed"):
        dataset.reseed(seed)  # type: ignore[union-attr]
    np.random.seed(seed % 2**32)
    random.seed(seed)


@dataclass
class DataReport:
    """What a run's data pass found: bad samples skipped and num_frames disagreements (unique per record)."""

    skipped: dict[int, dict[str, Any]] = field(default_factory=dict)
    skip_events: int = 0
    mismatches: dict[int, tuple[str, str, int, int]] = field(default_factory=dict)
    seen: set[int] = field(default_factory=set)
    _reported_mismatches: int = 0
    _reported_skips: int = 0

    def update(self, batch: dict[str, Any]) -> None:
        for s in batch["skipped"]:
            self.skip_events += 1
            self.skipped.setdefault(int(s["index"]), s)
        listed, disk = batch["frames_listed"].tolist(), batch["frames_on_disk"].tolist()
        for i, idx in enumerate(batch["index"].tolist()):
            self.seen.add(idx)
            if listed[i] >= 0 and listed[i] != disk[i]:
                self.mismatches.setdefault(idx, (batch["path"][i], batch["where"][i], listed[i], disk[i]))

    def summary(self) -> str:
        parts = [f"{len(self.seen)} clips read"]
        if self.skipped:
            parts.append(f"{len(self.skipped)} bad samples skipped ({self.skip_events} times)")
        if self.mismatches:
            path, where, listed, disk = next(iter(self.mismatches.values()))
            worst = max(abs(a - b) for _, _, a, b in self.mismatches.values())
            parts.append(f"num_frames column disagrees with the disk for {len(self.mismatches)} clips "
                         f"(largest difference {worst}; e.g. {where} {path}: listed {listed}, found {disk}); "
                         "the on-disk counts were used")
        return "; ".join(parts)

    def log_if_new(self) -> None:
        """Log the summary once, and again only when a pass found something new."""
        if len(self.mismatches) > self._reported_mismatches or len(self.skipped) > self._reported_skips:
            logger.warning("data: %s", self.summary())
            self._reported_mismatches, self._reported_skips = len(self.mismatches), len(self.skipped)


class ClipLoader:
    """A DataLoader wrapper that keeps the run's :class:`DataReport` and skips empty (all-bad) batches.

    Iterate it like the DataLoader; ``.loader`` is the underlying one, ``.report`` the findings so far.
    """

    def __init__(self, loader: DataLoader, dataset: ClipDataset) -> None:
        self.loader = loader
        self.dataset = dataset
        self.report = DataReport()
        for s in dataset.skipped:  # label errors found when the dataset was built
            self.report.skipped.setdefault(-1 - len(self.report.skipped), asdict(s))

    def __len__(self) -> int:
        return len(self.loader)

    def set_epoch(self, epoch: int) -> None:
        """Forward to a DistributedSampler (or any sampler with ``set_epoch``)."""
        sampler = getattr(self.loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # type: ignore[union-attr]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for batch in self.loader:
            self.report.update(batch)
            if len(batch["label"]):
                yield batch
        self.report.log_if_new()


def build_loader(dataset: ClipDataset, batch_size: int, *, shuffle: bool | None = None, num_workers: int = 0,
                 seed: int = 0, drop_last: bool | None = None, sampler: Sampler[int] | None = None,
                 pin_memory: bool = False, persistent_workers: bool = False,
                 prefetch_factor: int | None = None) -> ClipLoader:
    """A seeded DataLoader over ``dataset`` with :func:`collate_clips` and :func:`worker_init_fn`.

    ``shuffle`` and ``drop_last`` default to True for a training dataset (its sampler is in train mode) and
    False otherwise. Pass ``sampler`` (e.g. a DistributedSampler) to replace shuffling.
    """
    training = getattr(dataset.frame_sampler, "mode", "train") == "train"
    shuffle = training if shuffle is None else shuffle
    drop_last = training if drop_last is None else drop_last
    generator = torch.Generator().manual_seed(seed)
    if num_workers == 0:
        dataset.reseed(seed)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=shuffle if sampler is None else False,
                        sampler=sampler, num_workers=num_workers, collate_fn=collate_clips,
                        worker_init_fn=worker_init_fn, generator=generator, drop_last=drop_last,
                        pin_memory=pin_memory, persistent_workers=persistent_workers and num_workers > 0,
                        prefetch_factor=prefetch_factor if num_workers > 0 else None)
    return ClipLoader(loader, dataset)
