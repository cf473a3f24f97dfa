"""Per-clip predictions of one run on one test set, stored next to the run's record so that every claim of the
study can be recomputed without retraining.

One gzipped CSV per (run, test set), ``predictions/<key>.<set>.csv.gz``, one row per clip:

- ``clip`` (the list path), ``label``, ``clip_noisy`` (1 when any frame of the clip carries a noise flag);
- ``g0..g{K-1}``: the global head's class probabilities, ``l0..l{K-1}``: the NRM-fused local head's (averaged
  over views, as ``dkclip evaluate``; the fused head is their mean: :mod:`dkclip.model.heads`), 5 decimals;
- per snippet ``j`` (``j = view · N + n``): ``a{j}`` the NRM's a*, ``kept{j}`` (0/1), ``cos{j}`` the cosine of the
  snippet embedding with the video embedding (the NRM's raw similarity: a* of any normalisation can be
  recomputed from it), and ``noise{j}``, the generator's truth: the noise kind when most of the snippet's sampled
  frames are flagged (``expression``, ``occlusion``, ``blur``, ``dark``; the commonest kind among the flagged
  frames), empty when the snippet is clean.

The gzip header carries no time stamp, so the same predictions give the same bytes.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio import atomic_write
from ..model.heads import combine_heads


@dataclass(frozen=True)
class ClipPredictions:
    """n clips, K classes, S = views × N snippet slots."""

    clips: list[str]
    labels: np.ndarray  # (n,) int
    global_probs: np.ndarray  # (n, K)
    local_probs: np.ndarray  # (n, K)
    clip_noisy: np.ndarray  # (n,) bool
    scores: np.ndarray  # (n, S) a*
    kept: np.ndarray  # (n, S) bool
    cos: np.ndarray  # (n, S)
    noise: list[list[str]]  # (n, S): noise kind of a noisy snippet, "" for a clean one
    num_snippets: int

    @property
    def num_clips(self) -> int:
        return len(self.clips)

    @property
    def views(self) -> int:
        return self.scores.shape[1] // self.num_snippets if self.num_snippets else 0

    def probs(self, head: str) -> np.ndarray:
        if head == "global":
            return self.global_probs
        if head == "local":
            return self.local_probs
        if head == "fused":
            return combine_heads(self.global_probs, self.local_probs)
        raise KeyError(head)

    def preds(self, head: str = "global") -> np.ndarray:
        return self.probs(head).argmax(axis=1)

    @property
    def noisy(self) -> np.ndarray:
        """(n, S) bool: the snippet is noisy (most of its sampled frames flagged)."""
        return np.array([[k != "" for k in row] for row in self.noise], dtype=bool).reshape(self.scores.shape)

    def kind_mask(self, kind: str) -> np.ndarray:
        return np.array([[k == kind for k in row] for row in self.noise], dtype=bool).reshape(self.scores.shape)


def _fmt(value: float) -> str:
    text = f"{value:.5f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def to_csv(p: ClipPredictions) -> str:
    k = p.global_probs.shape[1]
    s = p.scores.shape[1]
    header = ["clip", "label", "clip_noisy", *[f"g{i}" for i in range(k)], *[f"l{i}" for i in range(k)]]
    for j in range(s):
        header += [f"a{j}", f"kept{j}", f"cos{j}", f"noise{j}"]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for i, clip in enumerate(p.clips):
        row: list[Any] = [clip, int(p.labels[i]), int(bool(p.clip_noisy[i]))]
        row += [_fmt(v) for v in p.global_probs[i]] + [_fmt(v) for v in p.local_probs[i]]
        for j in range(s):
            row += [_fmt(p.scores[i, j]), int(bool(p.kept[i, j])), _fmt(p.cos[i, j]), p.noise[i][j]]
        writer.writerow(row)
    return buffer.getvalue()


def from_csv(text: str, num_snippets: int) -> ClipPredictions:
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    k = sum(1 for h in header if h.startswith("g") and h[1:].isdigit())
    s = sum(1 for h in header if h.startswith("a") and h[1:].isdigit())
    col = {h: i for i, h in enumerate(header)}

    def floats(names: Sequence[str]) -> np.ndarray:
        idx = [col[n] for n in names]
        return np.array([[float(r[i]) for i in idx] for r in body], dtype=np.float64).reshape(len(body), len(idx))

    return ClipPredictions(
        clips=[r[0] for r in body], labels=np.array([int(r[1]) for r in body], dtype=np.int64),
        global_probs=floats([f"g{i}" for i in range(k)]), local_probs=floats([f"l{i}" for i in range(k)]),
        clip_noisy=np.array([r[2] == "1" for r in body], dtype=bool),
        scores=floats([f"a{j}" for j in range(s)]), kept=floats([f"kept{j}" for j in range(s)]).astype(bool),
        cos=floats([f"cos{j}" for j in range(s)]), noise=[[r[col[f"noise{j}"]] for j in range(s)] for r in body],
        num_snippets=num_snippets,
    )


def write_predictions(path: Path, p: ClipPredictions) -> Path:
    """Gzipped CSV, written atomically, without a time stamp in the gzip header."""
    data = gzip.compress(to_csv(p).encode(), compresslevel=9, mtime=0)

    def write(tmp: str) -> None:
        Path(tmp).write_bytes(data)

    return atomic_write(path, write)


def read_predictions(path: Path, num_snippets: int) -> ClipPredictions:
    return from_csv(gzip.decompress(path.read_bytes()).decode(), num_snippets)


# ------------------------------------------------------------------------------------------------- truth
def frame_noise_kinds(annotation: dict[str, Any]) -> list[str | None]:
    """Per-frame noise kind (None = clean) from a generator sidecar."""
    return [f.get("noise") for f in annotation["frames"]]


def snippet_kinds(kinds: Sequence[str | None], indices: np.ndarray, num_snippets: int) -> list[str]:
    """Per snippet: the commonest noise kind of its sampled frames when more than half of them are flagged, else
    "". ``indices`` (T,) are the sampled frame indices (clamped like the readers do); snippet n holds the T/N
    consecutive ones from n·T/N. Ties between kinds go to the kind seen first."""
    idx = np.clip(np.asarray(indices, dtype=np.int64), 0, len(kinds) - 1).reshape(num_snippets, -1)
    out = []
    for row in idx:
        flagged = [kinds[i] for i in row if kinds[i] is not None]
        if 2 * len(flagged) > len(row):
            counts = Counter(flagged)
            best = max(counts.values())
            out.append(next(str(k) for k in flagged if counts[k] == best))
        else:
            out.append("")
    return out


def annotation_file(media_path: str, root: str | None) -> Path:
    """``<dataset>/annotations/<clip_id>.json`` for ``frames/<clip_id>`` or ``videos/<clip_id>.mp4``."""
    media = Path(media_path)
    base = Path(root) if root else media.parent.parent
    return base / "annotations" / f"{media.stem}.json"


def load_annotation(media_path: str, root: str | None) -> dict[str, Any] | None:
    path = annotation_file(media_path, root)
    return json.loads(path.read_text()) if path.is_file() else None
