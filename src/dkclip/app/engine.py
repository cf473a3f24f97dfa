"""The app's work without the web page: one model for everyone, one :class:`Session` per browser tab, and
:meth:`AppEngine.run`, which predicts over a tab's uploads with :class:`dkclip.predict.Predictor` and writes each
result with :func:`dkclip.predict.batch.save_result` (what ``dkclip predict --out DIR --render FILE`` writes, so
the files are the command line's), then zips them.

Each tab has its own folder under the app's temporary folder: its staged uploads, its kept frames and faces
(:mod:`dkclip.app.caching`) and its latest run's results; a tab never sees another's. A run is written into a
fresh ``run-N`` folder and the zip is written atomically, so a download is always one complete run; the previous
run's folder is removed only after the new one is complete.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import logging
import math
import os
import shutil
import threading
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DKClipError, UsageError
from ..fileio import atomic_write, atomic_write_text
from ..predict.batch import output_names
from ..predict.defaults import DEFAULT_RUNTIME, RUNTIMES
from .caching import CachingDetector, Cancelled, MediaCache, RecordingSource, ReplaySource
from .inputs import StagedInput, check_uploads, stage_inputs, upload_key
from .settings import RunSettings

if TYPE_CHECKING:
    from ..model.au_evidence import AUEvidence
    from ..model.dkclip import DKClip
    from ..predict.models import ModelChoice
    from ..predict.result import PredictionResult
    from ..predict.runtime import OnnxVideoRuntime, Runtime
    from ..predict.sources import FrameSource

logger = logging.getLogger(__name__)

# (fraction done in [0, 1], what is happening)
Progress = Callable[[float, str], None]
DEFAULT_CACHE_MB = 1024
DEFAULT_MAX_UPLOAD_MB = 500
MAX_ZERO_SHOT_MODELS = 3  # zero-shot models kept for other prompt sets


@dataclass
class InputOutcome:
    """One input of a run: its result and files, or the plain message of why it could not be used."""

    name: str
    result: PredictionResult | None = None
    folder: Path | None = None  # frames.csv, windows.csv, windows.json, timeline.png, aus.png
    video: Path | None = None  # the annotated video
    error: str = ""
    reused: list[str] = field(default_factory=list)  # what was not computed again ("the decoded frames", ...)


@dataclass
class RunOutcome:
    inputs: list[InputOutcome]
    folder: Path  # what the zip holds
    zip_path: Path | None
    command: str  # the dkclip predict command line that writes the same files
    settings: RunSettings
    changed: list[str]  # settings changed since the tab's previous run of the same uploads

    @property
    def ok(self) -> list[InputOutcome]:
        return [o for o in self.inputs if o.result is not None]


class Session:
    """One browser tab: its folder, its uploads and what is kept of them, its latest run."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.lock = threading.Lock()  # one run at a time per tab
        self.cancel = threading.Event()
        self.upload_key: tuple[Any, ...] | None = None
        self.staged: list[StagedInput] = []
        self.caches: dict[str, MediaCache] = {}
        self.settings: RunSettings | None = None
        self.runs = 0
        self.last: RunOutcome | None = None

    def kept_bytes(self) -> int:
        return sum(f.image.nbytes for c in self.caches.values() for f in (c.frames or []))


@dataclass
class LoadedModel:
    """A model the app built once: the network, its AU evidence (None: no AU columns) and how it runs (a
    runtime name, or the int8/ONNX runtime built for it)."""

    model: DKClip
    evidence: AUEvidence | None
    runtime: str | Runtime | OnnxVideoRuntime


class AppEngine:
    """The model the app runs (``choice``, built once; zero-shot once per prompt set) and the tabs' sessions in
    ``root`` (a folder of the app's own, removed by whoever made it)."""

    def __init__(self, choice: ModelChoice, root: str | os.PathLike[str], *, device: str | None = None,
                 max_upload_mb: float = DEFAULT_MAX_UPLOAD_MB, cache_mb: float = DEFAULT_CACHE_MB,
                 runtime: str = DEFAULT_RUNTIME) -> None:
        choice.check()
        if runtime not in RUNTIMES:
            raise UsageError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
        # Written so that nan fails too. 0 MB of cache keeps no frames (each rerun decodes again).
        if not 0 < max_upload_mb < math.inf:
            raise UsageError(f"--max-upload-mb must be a positive number of MB, got {max_upload_mb}")
        if not 0 <= cache_mb < math.inf:
            raise UsageError(f"--cache-mb must be a number of MiB >= 0, got {cache_mb}")
        from ..predict.runtime import resolve_device

        resolve_device(device)  # an unusable --device fails at start-up, in one line, not at the first run
        self.choice = choice
        self.root = Path(root)
        self.device = device
        self.runtime = runtime
        self.max_upload_bytes = int(max_upload_mb * 1e6)
        self.cache_bytes = int(cache_mb * 2**20)
        self._models: dict[tuple[str, ...], LoadedModel] = {}
        self._models_lock = threading.Lock()
        self._sessions: dict[str, Session] = {}
        self._sessions_lock = threading.Lock()

    # ------------------------------------------------------------------ the model
    @property
    def warning(self) -> str | None:
        """The default model's warning (the command line prints the same), or None."""
        from ..predict.models import DEFAULT_MODEL_WARNING

        return DEFAULT_MODEL_WARNING if self.choice.is_default else None

    def describe_model(self) -> str:
        c = self.choice
        how = {"torch-int8": ", video encoder in int8", "onnx": ", video encoder in ONNX Runtime"}.get(self.runtime, "")
        if c.zero_shot:
            return f"CLIP zero-shot with {Path(c.clip_weights or '').name} and AU-enriched prompts{how}"
        if c.model:
            return f"the trained model {c.model}{how}"
        return f"the shipped dkclip-tiny (synthetic faces only){how}"

    def load(self, prompts: str | None = None) -> LoadedModel:
        """The model (for zero-shot: with ``prompts``, a named set or an ``id,name`` CSV), its AU evidence and
        its runtime, built on first use and kept (an int8 or ONNX runtime costs seconds to build)."""
        from ..predict.au_calibration import au_evidence_for
        from ..predict.runtime import build_runtime, resolve_device
        from ..prompts import resolve_prompts

        choice = self.choice
        key: tuple[str, ...] = ()
        if choice.zero_shot:
            choice = dataclasses.replace(choice, prompts=prompts or choice.prompts)
            try:
                key = tuple(resolve_prompts(choice.prompts))
            except (OSError, ValueError) as exc:
                raise UsageError(f"prompts: {exc}") from None
        with self._models_lock:
            if key not in self._models:
                if choice.zero_shot and len(self._models) >= MAX_ZERO_SHOT_MODELS:
                    self._models.pop(next(iter(self._models)))
                model = choice.build()
                runtime: str | Runtime | OnnxVideoRuntime = self.runtime
                if self.runtime != DEFAULT_RUNTIME:
                    device = resolve_device(self.device)
                    runtime = build_runtime(model.eval().to(device), self.runtime, device)
                # AU evidence as dkclip predict scores it
                self._models[key] = LoadedModel(model, au_evidence_for(model, True), runtime)
            return self._models[key]

    # ------------------------------------------------------------------ sessions
    def session(self, key: str) -> Session:
        with self._sessions_lock:
            if key not in self._sessions:
                safe = "".join(ch for ch in key if ch.isalnum())[:32] or "tab"
                folder = self.root / "sessions" / safe
                folder.mkdir(parents=True, exist_ok=True)
                self._sessions[key] = Session(folder)
            return self._sessions[key]

    def close_session(self, key: str) -> None:
        """Forget a tab (closed or timed out) and remove its folder; a run still going is cancelled."""
        with self._sessions_lock:
            session = self._sessions.pop(key, None)
        logger.info("dkclip app: tab %s closed%s", key[:6], "" if session is not None else " (it had no folder)")
        if session is not None:
            session.cancel.set()
            with session.lock:
                shutil.rmtree(session.folder, ignore_errors=True)
            if session.folder.exists():
                logger.warning("dkclip app: could not remove the closed tab's folder %s", session.folder)

    def cancel(self, key: str) -> None:
        with self._sessions_lock:
            session = self._sessions.get(key)
        if session is not None:
            session.cancel.set()

    # ------------------------------------------------------------------ running
    def run(self, session: Session, uploads: list[str], settings: RunSettings, prompts: str | None = None,
            progress: Progress | None = None) -> RunOutcome:
        """Predict over ``uploads`` (paths of uploaded files) with ``settings`` and write the results and their
        zip. The same uploads as the tab's previous run reuse its kept frames and faces. Raises
        :class:`~dkclip.errors.UsageError` for what cannot be run at all and :class:`Cancelled`; an input that
        fails is reported in its :class:`InputOutcome` and the others go on."""
        report = progress or (lambda fraction, text: None)
        if not session.lock.acquire(blocking=False):
            raise UsageError("this tab is already running a prediction: wait for it, or press Cancel")
        try:
            session.cancel.clear()
            check_uploads(uploads, self.max_upload_bytes)
            self._stage(session, uploads)
            changed = settings.changed_from(session.settings)
            report(0.0, "loading the model")
            loaded = self.load(prompts)
            session.runs += 1
            run_dir = session.folder / f"run-{session.runs}"
            shutil.rmtree(run_dir, ignore_errors=True)
            results = run_dir / "results"
            several = len(session.staged) > 1
            # One sub-folder per input when there are several, named as dkclip predict names them.
            names = output_names([Path(s.name) for s in session.staged]) if several else [""]
            outcomes = []
            for i, (item, sub) in enumerate(zip(session.staged, names, strict=True)):
                span = (i / len(session.staged), (i + 1) / len(session.staged))
                outcomes.append(self._predict_one(session, item, loaded, settings, results / sub, span, report))
            results.mkdir(parents=True, exist_ok=True)
            if several:
                self._write_index(results, outcomes, names)
            if prompts and prompts.endswith(".csv") and os.path.isfile(prompts):
                shutil.copyfile(prompts, results / "prompts.csv")  # the command line below names it
            report(0.99, "writing the zip")
            zip_path = self._zip(results, run_dir, session.staged) if any(o.result for o in outcomes) else None
            outcome = RunOutcome(outcomes, results, zip_path, self.command(session.staged, settings, prompts),
                                 settings, changed)
            self._drop_older_runs(session, run_dir)
            session.settings = settings
            session.last = outcome
            return outcome
        finally:
            session.lock.release()

    @staticmethod
    def prompt_spec(session: Session, named: str | None, custom: str | None) -> str | None:
        """The zero-shot prompts the page asks for: the user's own lines, one class a line (written as an
        ``id,name`` CSV in the tab's folder, as ``--prompts FILE.csv`` reads it), else the named set."""
        lines = [line.strip() for line in (custom or "").splitlines() if line.strip()]
        if not lines:
            return named
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(["id", "name"])
        writer.writerows(enumerate(lines))
        return str(atomic_write_text(session.folder / "prompts.csv", text.getvalue()))

    def command(self, staged: list[StagedInput], settings: RunSettings, prompts: str | None) -> str:
        """The ``dkclip predict`` command that writes the same files (run where the inputs are)."""
        c = self.choice
        words = ["dkclip", "predict", *(s.name for s in staged)]
        if c.zero_shot:
            words += ["--zero-shot", "--clip-weights", str(c.clip_weights)]
            spec = prompts or c.prompts
            words += ["--prompts", "prompts.csv" if spec.endswith(".csv") else spec]
            if c.arch:
                words += ["--arch", c.arch]
        elif c.model:
            words += ["--model", c.model]
        if self.device:
            words += ["--device", self.device]
        if self.runtime != DEFAULT_RUNTIME:
            words += ["--runtime", self.runtime]
        words += settings.cli_args()
        several = len(staged) > 1
        words += ["--out", "results", "--render", "results" if several else "results/annotated.mp4"]
        return " ".join(_quote(w) for w in words)

    def _stage(self, session: Session, uploads: list[str]) -> None:
        """New uploads replace the tab's inputs and what was kept of them; the same uploads keep both."""
        key = upload_key(uploads)
        if key == session.upload_key and all(s.path.exists() for s in session.staged):
            return
        inputs = session.folder / "inputs"
        shutil.rmtree(inputs, ignore_errors=True)
        session.upload_key, session.staged, session.caches, session.settings = None, [], {}, None
        session.staged = stage_inputs(uploads, inputs, self.max_upload_bytes)
        session.upload_key = key

    def _predict_one(self, session: Session, item: StagedInput, loaded: LoadedModel, settings: RunSettings,
                     folder: Path, span: tuple[float, float], report: Progress) -> InputOutcome:
        from ..predict import Predictor
        from ..predict.batch import save_result

        lo, hi = span
        outcome = InputOutcome(item.name)
        cache = session.caches.setdefault(item.name, MediaCache())
        try:
            aus = loaded.evidence if loaded.evidence is not None else False
            predictor = Predictor(loaded.model, device=self.device, aus=aus, runtime=loaded.runtime,
                                  **settings.predictor_options())
            detector = CachingDetector(predictor.detector, cache.memo(settings.detection_key()))
            predictor.detector = detector
            replay = cache.frames is not None

            def frames_done(done: int, total: int) -> None:
                step = f"frame {done} of {total}" if total >= done else f"frame {done}"
                work = "kept frames" if replay else "decoding"
                report(lo + (hi - lo) * 0.6 * (min(done / total, 1.0) if total else 0.0),
                       f"{item.name}: {step} ({work}, faces, windows, model)")

            source = self._source(session, item, cache, predictor.fps, frames_done)
            with source:
                result = predictor.predict(source)
            if replay:
                outcome.reused.append("the decoded frames")
            if settings.detector != "none" and detector.asked == 0 and detector.memo:
                outcome.reused.append("the faces found")

            def render_done(done: int, total: int) -> None:
                report(lo + (hi - lo) * (0.6 + 0.4 * (min(done / total, 1.0) if total else 0.0)),
                       f"{item.name}: drawing the annotated video, frame {done}")

            # The annotated video is drawn from the kept frames when there are (else decoded again).
            result.reopen = lambda: self._source(session, item, cache, predictor.fps, render_done, keep=False)
            video = folder / "annotated.mp4"
            save_result(result, folder, plot=True, render=video)
            outcome.result, outcome.folder, outcome.video = result, folder, video
        except Cancelled:
            raise
        except (DKClipError, OSError) as exc:
            outcome.error = _plain(exc, item)
        except Exception as exc:  # a bug: the page says so in one line, the log keeps the traceback
            logger.exception("dkclip app: prediction over %s failed", item.name)
            outcome.error = f"{item.name}: internal error ({type(exc).__name__}: {exc}); the server log has details"
        return outcome

    def _source(self, session: Session, item: StagedInput, cache: MediaCache, fps: float | None,
                progress: Callable[[int, int], None], keep: bool = True) -> FrameSource:
        """The input's frames: replayed from memory when kept, else decoded (and kept, within the budget)."""
        from ..predict.sources import open_source

        if cache.frames is not None:
            return ReplaySource(cache, progress, session.cancel)
        budget = max(0, self.cache_bytes - session.kept_bytes()) if keep else -1
        scratch = cache if keep else MediaCache(over_budget=True)
        return RecordingSource(open_source(item.path, fps=fps), item.name, scratch, budget, progress, session.cancel)

    @staticmethod
    def _write_index(results: Path, outcomes: list[InputOutcome], names: list[str]) -> None:
        """``index.csv`` as ``dkclip predict`` writes it for several inputs."""
        from ..predict.batch import InputReport, write_index

        reports = []
        for o, name in zip(outcomes, names, strict=True):
            r = InputReport(input=o.name, output=name)
            if o.result is None:
                r.status, r.error = "failed", o.error
            else:
                r.faces, r.windows = o.result.num_faces, len(o.result.windows)
            reports.append(r)
        write_index(results, reports)

    @staticmethod
    def _zip(results: Path, run_dir: Path, staged: list[StagedInput]) -> Path:
        """Every file of ``results`` in one zip, written atomically (a download is never half a zip)."""
        stem = Path(staged[0].name).stem if len(staged) == 1 else "results"
        files = sorted(p for p in results.rglob("*") if p.is_file() and not p.name.startswith("."))

        def write(tmp: str) -> None:
            with zipfile.ZipFile(tmp, "w") as zf:
                for path in files:
                    # pictures and video are compressed already
                    packed = zipfile.ZIP_STORED if path.suffix in (".png", ".mp4") else zipfile.ZIP_DEFLATED
                    zf.write(path, path.relative_to(results).as_posix(), compress_type=packed)

        return atomic_write(run_dir / f"dkclip-{stem}.zip", write)

    @staticmethod
    def _drop_older_runs(session: Session, keep: Path) -> None:
        for old in session.folder.glob("run-*"):
            if old != keep:
                shutil.rmtree(old, ignore_errors=True)


def _plain(exc: BaseException, item: StagedInput) -> str:
    """The error's one line, naming the input as the user named it (not the server's path)."""
    from ..predict.batch import error_message

    message = error_message(exc) if isinstance(exc, DKClipError | OSError) else str(exc)
    message = message.replace(str(item.path), item.name)
    return message if item.name in message else f"{item.name}: {message}"


def _quote(word: str) -> str:
    import shlex

    return shlex.quote(word)
