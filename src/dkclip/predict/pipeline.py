"""The streaming half of prediction: decoded frames in, ready-to-run windows out, with bounded memory.

For each frame the pipeline (:class:`WindowStream`) detects faces on every k-th frame, links them into tracks
(:mod:`.tracking`), cuts each track's crop as soon as the track's box in that frame is known (:mod:`.crops`),
and emits a :class:`WindowJob` (T crops plus where and when) as soon as a window of a track is complete
(:mod:`.windows`). What it holds at any time:

- full frames only since the oldest last detection of a live track (at most ``max(k, max_gap * fps)`` frames:
  the frames between two detections, whose boxes are interpolated when the second one arrives);
- per track, the crops (at the model's input scale) from the start of its last emitted window on;
- per frame, a few numbers per face (box, score) for the per-frame table.

Tracks shorter than ``min_track`` seconds (default: one window) are dropped as detector noise, except in a
video shorter than one window: there every track covering at least half the video is kept and predicted from
what exists (one window each).
"""

from __future__ import annotations

import itertools
from collections import OrderedDict, deque
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from .crops import Cropper
from .faces import FaceDetector
from .sources import Frame
from .tracking import BuilderEvents, TrackBuilder, Tracker, TrackPoint
from .windows import grid_start, plan_windows, snippet_grid_centres, window_sample

_EPS = 1e-6
_STREAM_IDS = itertools.count(1)  # tells the windows of one stream from another's (track ids restart per stream)


@dataclass
class WindowJob:
    """One window of one face track, ready for the model."""

    track: int  # the tracker's id
    face_id: int  # the public id (1, 2, ... in the order faces first reach one window)
    index: int  # window number within the track
    start_time: float
    end_time: float
    start_frame: int
    end_frame: int
    sample_frames: np.ndarray  # (T,) frame indices of the crops
    crops: np.ndarray | None  # (T, h, w, 3) uint8; released (None) once the model has seen them
    box: np.ndarray  # (4,) x0, y0, x1, y1 of the face at the window's centre
    short: bool = False  # the window covers less than the requested window length
    stream: int = 0  # the WindowStream it comes from (a snippet cache is only valid within one)
    last: bool = False  # the track's last window: nothing of the track follows


@dataclass
class TrackRecord:
    """Per-frame facts of one track, kept for the per-frame table (a few numbers per frame)."""

    track: int
    face_id: int = 0
    frames: list[int] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    boxes: list[np.ndarray] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    detected: list[bool] = field(default_factory=list)
    t_end: float = 0.0

    def arrays(self) -> dict[str, np.ndarray]:
        return {"frame": np.asarray(self.frames, dtype=np.int64), "time": np.asarray(self.times),
                "box": np.asarray(self.boxes, dtype=np.float64).reshape(-1, 4), "score": np.asarray(self.scores),
                "detected": np.asarray(self.detected, dtype=bool)}


class _TrackState:
    """A live track: its record, its pending crops and its window schedule."""

    def __init__(self, track: int) -> None:
        self.record = TrackRecord(track)
        self.crops: deque[tuple[int, float, np.ndarray, np.ndarray]] = deque()  # (frame, time, box, crop)
        self.t0 = 0.0  # time of the first point, set by the first add()
        self.next_grid = 0  # index of the next regular window
        self.emitted = 0

    def add(self, point: TrackPoint, crop: np.ndarray) -> None:
        rec = self.record
        if not rec.frames:
            self.t0 = point.time
        rec.frames.append(point.frame)
        rec.times.append(point.time)
        rec.boxes.append(point.box)
        rec.scores.append(point.score)
        rec.detected.append(point.detected)
        self.crops.append((point.frame, point.time, point.box, crop))

    @property
    def last_time(self) -> float:
        return self.record.times[-1]


class WindowStream:
    """Frames in (:meth:`feed`, then :meth:`finish`), :class:`WindowJob` lists out. See the module docstring."""

    def __init__(self, detector: FaceDetector, cropper: Cropper, *, num_frames: int, window: float = 2.0,
                 stride: float = 1.0, detect_every: int = 5, short_clip: str = "loop", min_track: float | None = None,
                 tracker: Tracker | None = None, num_snippets: int = 1) -> None:
        """``num_snippets``: the model's N; windows on the track's grid of snippets (window / N seconds) sample
        each snippet's frames identically (:func:`~.windows.snippet_grid_centres`)."""
        self.detector = detector
        self.cropper = cropper
        self.num_frames = num_frames
        self.num_snippets = num_snippets
        self.id = next(_STREAM_IDS)
        self.window = window
        self.stride = stride
        self.detect_every = max(1, int(detect_every))
        self.short_clip = short_clip
        self.min_track = window if min_track is None else min_track
        self.builder = TrackBuilder(tracker or Tracker())
        self.frame_times: list[float] = []
        self.kept: list[TrackRecord] = []  # finished tracks with at least one window
        self.dropped = 0  # tracks dropped as too short
        self.short_video = False  # the video was shorter than one window
        self._buffer: OrderedDict[int, tuple[Frame, Image.Image | None]] = OrderedDict()
        self._live: dict[int, _TrackState] = {}
        self._stash: list[_TrackState] = []  # short tracks kept until the end, in case the video is short
        self._next_face_id = 1
        self._last: Frame | None = None
        self._last_detected = -1
        self._intervals: deque[float] = deque(maxlen=32)

    # ------------------------------------------------------------------ streaming
    def feed(self, frame: Frame) -> list[WindowJob]:
        if self._last is not None:
            self._intervals.append(frame.time - self._last.time)
        self._last = frame
        self.frame_times.append(frame.time)
        self._buffer[frame.index] = (frame, None)
        self.builder.add_frame(frame.index, frame.time)
        if frame.index % self.detect_every == 0:
            return self._detect(frame)
        return []

    def finish(self) -> list[WindowJob]:
        jobs: list[WindowJob] = []
        last = self._last
        if last is not None and self._last_detected != last.index:
            # The frames after the last detection frame get boxes only if the last frame is looked at too.
            jobs += self._detect(last)
        jobs += self._apply(self.builder.finish())
        video_end = self.video_end
        if last is not None and video_end < self.window - _EPS:
            self.short_video = True
            for state in self._stash:
                if state.record.t_end - state.t0 >= 0.5 * video_end - _EPS:
                    jobs += self._close(state)
                else:
                    self.dropped += 1
        else:
            self.dropped += len(self._stash)
        self._stash.clear()
        self._buffer.clear()
        self.kept.sort(key=lambda r: r.face_id)
        return jobs

    @property
    def frame_interval(self) -> float:
        """The typical time between frames (median of the recent intervals)."""
        return float(np.median(self._intervals)) if self._intervals else 1.0 / 25.0

    @property
    def video_end(self) -> float:
        """End of the video so far: the last frame's time plus one frame interval."""
        return self._last.time + self.frame_interval if self._last is not None else 0.0

    # ------------------------------------------------------------------ internals
    def _detect(self, frame: Frame) -> list[WindowJob]:
        self._last_detected = frame.index
        detections = self.detector.detect([frame.image])[0]
        return self._apply(self.builder.add_detections(frame.index, detections))

    def _image(self, index: int) -> Image.Image:
        frame, pil = self._buffer[index]
        if pil is None:
            pil = Image.fromarray(frame.image)
            self._buffer[index] = (frame, pil)
        return pil

    def _apply(self, events: BuilderEvents) -> list[WindowJob]:
        touched: dict[int, _TrackState] = {}
        for tid, point in events.points:
            state = self._live.get(tid)
            if state is None:
                state = self._live[tid] = _TrackState(tid)
            crop = self.cropper(self._image(point.frame), point.box, point.landmarks)
            state.add(point, crop)
            touched[tid] = state
        jobs: list[WindowJob] = []
        for state in touched.values():
            if state.record.track not in events.ended:
                jobs += self._ready(state)
        for tid in events.ended:
            state = self._live.pop(tid, None)
            if state is not None:
                jobs += self._end(state)
        # Frames no track can ask for any more (see TrackBuilder.oldest_needed) leave memory now.
        oldest = self.builder.oldest_needed()
        while self._buffer and next(iter(self._buffer)) < oldest:
            self._buffer.popitem(last=False)
        return jobs

    def _ready(self, state: _TrackState) -> list[WindowJob]:
        """Regular windows whose frames are all known (a later frame of the track is known)."""
        jobs: list[WindowJob] = []
        if state.last_time - state.t0 < self.min_track - _EPS:
            return jobs  # not yet long enough to count as a face (its crops wait, at most min_track of them)
        while True:
            start = grid_start(state.t0, state.next_grid, self.stride)
            if state.last_time < start + self.window - _EPS:
                break
            jobs.append(self._job(state, start, start + self.window))
            state.next_grid += 1
        return jobs

    def _end(self, state: _TrackState) -> list[WindowJob]:
        state.record.t_end = state.last_time + self.frame_interval
        length = state.record.t_end - state.t0
        if length >= self.min_track - _EPS:
            return self._close(state)
        if self.video_end < self.window - _EPS:
            self._stash.append(state)  # maybe a short video: decided at the end
        else:
            self.dropped += 1
        return []

    def _close(self, state: _TrackState) -> list[WindowJob]:
        """The windows of an ended track not emitted yet (its tail, or the one window of a short track)."""
        spans = plan_windows(state.t0, state.record.t_end, self.window, self.stride)
        jobs = [self._job(state, s, e) for s, e in spans[state.next_grid:]]
        state.next_grid = len(spans)
        if jobs:
            jobs[-1].last = True
        state.crops.clear()
        return jobs

    def _job(self, state: _TrackState, start: float, end: float) -> WindowJob:
        rec = state.record
        if rec.face_id == 0:
            rec.face_id = self._next_face_id
            self._next_face_id += 1
            self.kept.append(rec)
        inside = [c for c in state.crops if start - _EPS <= c[1] < end - _EPS]
        if not inside:  # a window can only be planned over frames the track has; keep the nearest one
            inside = [min(state.crops, key=lambda c: abs(c[1] - start))]
        times = np.array([c[1] for c in inside])
        centres = None
        if end - start >= self.window - _EPS:
            centres = snippet_grid_centres(state.t0, start, end, self.num_frames, self.num_snippets)
        picks = window_sample(times, start, end, self.num_frames, self.short_clip, centres)
        middle = int(np.clip(np.searchsorted(times, (start + end) / 2, side="right") - 1, 0, len(inside) - 1))
        centre = inside[middle]
        job = WindowJob(track=rec.track, face_id=rec.face_id, index=state.emitted, start_time=start, end_time=end,
                        start_frame=inside[0][0], end_frame=inside[-1][0],
                        sample_frames=np.array([inside[i][0] for i in picks], dtype=np.int64),
                        crops=np.stack([inside[i][3] for i in picks]), box=np.asarray(centre[2], dtype=np.float64),
                        short=end - start < self.window - _EPS, stream=self.id)
        state.emitted += 1
        # Later windows start at or after this one's start (the end-aligned tail too): older crops can go.
        while state.crops and state.crops[0][1] < start - _EPS:
            state.crops.popleft()
        return job


def run_stream(stream: WindowStream, frames: Sequence[Frame]) -> list[WindowJob]:
    """Feed a whole (short) sequence of frames and finish: every job, in emission order (for tests)."""
    jobs: list[WindowJob] = []
    for frame in frames:
        jobs += stream.feed(frame)
    return jobs + stream.finish()
