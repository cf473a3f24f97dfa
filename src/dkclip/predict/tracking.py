"""Face tracks from detections on every k-th frame: linking, bridging short misses, and a box for every frame.

:class:`Tracker` links the detections of one detection frame to the live tracks: a constant-velocity prediction
of each track's box is matched to the detections by IoU, falling back to the distance between centres for fast
motion (IoU can be 0 after a quick move between two detection frames): centres less than one face size apart
are linked, which is still less than the centre distance of two faces side by side (they do not overlap).
Matching is greedy on a score in which any IoU match outranks any centre-distance match, which is optimal for
the few, mostly disjoint faces of a video and keeps the code free of an assignment solver. A track that finds
no detection is *missing*; it ends when it has been missing for longer than ``max_gap`` seconds, at its last
detection.

:class:`TrackBuilder` turns this into per-frame boxes as soon as they are known: when a track is detected again,
the frames since its previous detection get boxes (and landmarks, scores) interpolated linearly *in time*
(frame timestamps, so variable frame rate is handled), which both fills the frames between detection frames
and bridges the misses. It says which frames are still needed (:meth:`TrackBuilder.oldest_needed`), so that
the caller can drop every older decoded frame: memory stays bounded by ``max_gap`` and the detection interval,
whatever the length of the video.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .faces import Detection


@dataclass
class TrackPoint:
    """A track's face in one frame. ``detected`` is False for interpolated (bridged or in-between) frames."""

    frame: int
    time: float
    box: np.ndarray  # (4,) x0, y0, x1, y1
    score: float
    landmarks: np.ndarray | None = None  # (5, 2)
    detected: bool = True


@dataclass
class Track:
    """A tracker's track: the detections it was matched to (most recent last)."""

    id: int
    detections: list[TrackPoint] = field(default_factory=list)
    ended: bool = False

    @property
    def last(self) -> TrackPoint:
        return self.detections[-1]

    def predict(self, time: float) -> np.ndarray:
        """The box expected at ``time``: constant velocity from the last two detections (the last box if one),
        over the whole time since the last detection (at most the tracker's ``max_gap`` plus one detection
        interval, since a track missing longer has ended): a face that keeps walking while the detector misses
        it is found where it went. The tracker also matches against the last box, for a face that stopped."""
        last = self.last
        if len(self.detections) < 2:
            return last.box
        prev = self.detections[-2]
        dt = last.time - prev.time
        if dt <= 0:
            return last.box
        return last.box + (last.box - prev.box) * ((time - last.time) / dt)


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in ``a`` (n, 4) with every box in ``b`` (m, 4)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / np.maximum(area_a[:, None] + area_b[None, :] - inter, 1e-9)


def match_scores(predicted: np.ndarray, detected: np.ndarray, iou_threshold: float,
                 max_center_distance: float) -> np.ndarray:
    """(n, m) link scores, 0 where a pair may not be linked. IoU matches score 1 + IoU; centre matches (centres
    less than ``max_center_distance`` box sizes apart, sizes within a factor 2) score below 1."""
    iou = iou_matrix(predicted, detected)
    scores = np.where(iou >= iou_threshold, 1.0 + iou, 0.0)
    if len(predicted) and len(detected):
        pc = (predicted[:, :2] + predicted[:, 2:]) / 2
        dc = (detected[:, :2] + detected[:, 2:]) / 2
        ps = np.sqrt(np.prod(np.clip(predicted[:, 2:] - predicted[:, :2], 1e-6, None), axis=1))
        ds = np.sqrt(np.prod(np.clip(detected[:, 2:] - detected[:, :2], 1e-6, None), axis=1))
        size = np.maximum(ps[:, None], ds[None, :])
        dist = np.linalg.norm(pc[:, None] - dc[None, :], axis=-1) / size
        ratio = np.maximum(ps[:, None], ds[None, :]) / np.minimum(ps[:, None], ds[None, :])
        near = (dist < max_center_distance) & (ratio <= 2.0)
        scores = np.where((scores == 0) & near, 1.0 - dist / max_center_distance, scores)
    return scores


def greedy_match(scores: np.ndarray) -> list[tuple[int, int]]:
    """Pairs (row, column) taken in descending score order, each row and column once, scores > 0 only."""
    pairs: list[tuple[int, int]] = []
    if scores.size == 0:
        return pairs
    order = np.argsort(-scores, axis=None, kind="stable")
    used_r: set[int] = set()
    used_c: set[int] = set()
    for flat in order:
        r, c = divmod(int(flat), scores.shape[1])
        if scores[r, c] <= 0:
            break
        if r in used_r or c in used_c:
            continue
        used_r.add(r)
        used_c.add(c)
        pairs.append((r, c))
    return pairs


@dataclass
class TrackerUpdate:
    """What one detection frame changed: tracks matched (with their previous detection), started and ended."""

    matched: list[tuple[Track, TrackPoint]] = field(default_factory=list)  # (track, previous last detection)
    started: list[Track] = field(default_factory=list)
    ended: list[Track] = field(default_factory=list)


class Tracker:
    """Online linking of per-frame detections into tracks (see the module docstring)."""

    def __init__(self, iou_threshold: float = 0.3, max_center_distance: float = 1.0, max_gap: float = 0.5) -> None:
        self.iou_threshold = iou_threshold
        self.max_center_distance = max_center_distance
        self.max_gap = max_gap
        self.alive: list[Track] = []
        self._next_id = 1

    def update(self, frame: int, time: float, detections: Sequence[Detection]) -> TrackerUpdate:
        result = TrackerUpdate()
        points = [TrackPoint(frame, time, np.asarray(d.box, dtype=np.float64), float(d.score),
                             None if d.landmarks is None else np.asarray(d.landmarks, dtype=np.float64))
                  for d in detections]
        predicted = np.array([t.predict(time) for t in self.alive]).reshape(-1, 4)
        last = np.array([t.last.box for t in self.alive]).reshape(-1, 4)
        boxes = np.array([p.box for p in points]).reshape(-1, 4)
        # The better of the two guesses: where the face was going, or where it was last seen.
        scores = np.maximum(match_scores(predicted, boxes, self.iou_threshold, self.max_center_distance),
                            match_scores(last, boxes, self.iou_threshold, self.max_center_distance))
        pairs = greedy_match(scores)
        matched_tracks = set()
        matched_dets = set()
        for r, c in pairs:
            track = self.alive[r]
            result.matched.append((track, track.last))
            track.detections.append(points[c])
            # Only the last two detections are needed (prediction, interpolation): keep the list short.
            del track.detections[:-2]
            matched_tracks.add(r)
            matched_dets.add(c)
        still = []
        for i, track in enumerate(self.alive):
            if i not in matched_tracks and time - track.last.time > self.max_gap:
                track.ended = True
                result.ended.append(track)
            else:
                still.append(track)
        # New faces, largest first, so that ids follow a stable, meaningful order within one frame.
        new = sorted((c for c in range(len(points)) if c not in matched_dets),
                     key=lambda c: -float(np.prod(boxes[c, 2:] - boxes[c, :2])))
        for c in new:
            track = Track(self._next_id, [points[c]])
            self._next_id += 1
            still.append(track)
            result.started.append(track)
        self.alive = still
        return result

    def finish(self) -> list[Track]:
        """End every live track (the end of the video)."""
        ended, self.alive = self.alive, []
        for track in ended:
            track.ended = True
        return ended


def interpolate(a: TrackPoint, b: TrackPoint, frames: Sequence[int], times: Sequence[float]) -> list[TrackPoint]:
    """Points for ``frames`` (strictly between a and b) interpolated linearly in time between two detections."""
    span = b.time - a.time
    out = []
    for f, t in zip(frames, times, strict=True):
        w = (t - a.time) / span if span > 0 else 1.0
        lm = None
        if a.landmarks is not None and b.landmarks is not None:
            lm = a.landmarks + (b.landmarks - a.landmarks) * w
        out.append(TrackPoint(f, t, a.box + (b.box - a.box) * w, a.score + (b.score - a.score) * w, lm, False))
    return out


@dataclass
class BuilderEvents:
    """Per-frame points that became known (``points``: (track id, point), in frame order per track) and tracks
    that ended (ids)."""

    points: list[tuple[int, TrackPoint]] = field(default_factory=list)
    ended: list[int] = field(default_factory=list)


class TrackBuilder:
    """Per-frame track boxes from a stream of frames and detections (see the module docstring).

    Call :meth:`add_frame` for every frame, :meth:`add_detections` after each detection frame's
    :meth:`add_frame`, and :meth:`finish` at the end (after detections on the last frame).
    """

    def __init__(self, tracker: Tracker | None = None) -> None:
        self.tracker = tracker or Tracker()
        self._times: dict[int, float] = {}
        self._last_frame = -1

    def add_frame(self, index: int, time: float) -> None:
        self._times[index] = time
        self._last_frame = index

    def add_detections(self, index: int, detections: Sequence[Detection]) -> BuilderEvents:
        time = self._times[index]
        update = self.tracker.update(index, time, detections)
        events = BuilderEvents()
        for track, previous in update.matched:
            current = track.last
            between = range(previous.frame + 1, current.frame)
            for p in interpolate(previous, current, list(between), [self._times[f] for f in between]):
                events.points.append((track.id, p))
            events.points.append((track.id, current))
        for track in update.started:
            events.points.append((track.id, track.last))
        events.ended.extend(t.id for t in update.ended)
        self._prune()
        return events

    def finish(self) -> BuilderEvents:
        events = BuilderEvents(ended=[t.id for t in self.tracker.finish()])
        self._times.clear()
        return events

    def oldest_needed(self) -> int:
        """The first frame whose pixels may still be asked for: the frame after the oldest last detection of a
        live track (its frames are cropped once it is seen again), else the next frame."""
        pending = [t.last.frame + 1 for t in self.tracker.alive]
        return min([*pending, self._last_frame + 1])

    def _prune(self) -> None:
        keep_from = self.oldest_needed()
        for f in [f for f in self._times if f < keep_from]:
            del self._times[f]


def track_frames(times: Sequence[float], detections: dict[int, Sequence[Detection]],
                 tracker: Tracker | None = None) -> dict[int, list[TrackPoint]]:
    """Offline: per track id, its per-frame points, for frames with ``times`` and detections at the frames
    that are keys of ``detections`` (the last frame should be one of them)."""
    builder = TrackBuilder(tracker)
    tracks: dict[int, list[TrackPoint]] = {}

    def collect(events: BuilderEvents) -> None:
        for tid, point in events.points:
            tracks.setdefault(tid, []).append(point)

    for i, t in enumerate(times):
        builder.add_frame(i, t)
        if i in detections:
            collect(builder.add_detections(i, detections[i]))
    collect(builder.finish())
    return tracks

