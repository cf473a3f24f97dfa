"""The web page (Gradio): inputs and settings on the left, results on the right. Every handler is a few lines
over :class:`dkclip.app.engine.AppEngine`; what a handler shows comes from :mod:`dkclip.app.views`.

Gradio reads a handler's annotations to inject ``gr.Request``, ``gr.SelectData`` and ``gr.Progress``, so
``gr`` is imported at module level (this module is imported only after :mod:`.server` has set Gradio's
environment).

Handlers never let an exception reach Gradio (which would show a red "Error" toast and a traceback in the log
that tells the user nothing): an expected problem is the library's one line on the page, a bug is one line too
and its traceback goes to the server's log. Each tab is its own session (Gradio's ``session_hash``); the run
button's event has Gradio's default concurrency limit of one, so runs queue (the page shows the queue position)
and one model serves everyone.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import gradio as gr

from ..errors import DKClipError
from ..predict.defaults import HEADS
from .caching import Cancelled
from .settings import DETECTORS, RunSettings
from .views import SEGMENT_HEADERS, run_status, segment_rows

if TYPE_CHECKING:
    from .engine import AppEngine, InputOutcome

logger = logging.getLogger(__name__)

TITLE = "dkclip: which expression, and when"
INTRO = ("Upload a video (or several, or the images of one clip), or record one with the webcam, and press **Run**. "
         "Faces are found and followed; each face's expression is predicted over sliding windows. Results: the "
         "annotated video, a table of expression segments per face (click a row to jump the video there), the "
         "timeline and action-unit pictures, and a zip of everything `dkclip predict` writes.")
# Jump the annotated video to the time the segment table's click put into the hidden number.
SEEK_JS = """(t) => {
  const v = document.querySelector('#dk-annotated video');
  if (v && t !== null && t !== undefined && !Number.isNaN(Number(t))) { v.currentTime = Number(t); v.pause(); }
  return [];
}"""
# Gradio removes its cached files (uploads, served copies) older than an hour, every half hour.
CLEAN_CACHE = (1800, 3600)
CSS = "#dk-warning {border-left: 4px solid #d97706; padding: 6px 12px; background: #fffbeb;}"


def build_ui(engine: AppEngine) -> gr.Blocks:
    from ..prompts import list_prompt_sets

    zero_shot = engine.choice.zero_shot
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=CLEAN_CACHE) as page:
        gr.Markdown(f"# {TITLE}\n{INTRO}\n\nModel: {engine.describe_model()}.")
        if engine.warning:
            gr.Markdown(f"**Warning:** {engine.warning}", elem_id="dk-warning")
        with gr.Row():
            with gr.Column(scale=2):
                video_in = gr.Video(label="Video (upload, or record with the webcam)", sources=["upload", "webcam"],
                                    elem_id="dk-video-in")
                files_in = gr.File(label="Or several files: videos, or the images of one clip (in name order)",
                                   file_count="multiple", elem_id="dk-files-in")
                with gr.Accordion("Settings", open=False):
                    window = gr.Slider(0.5, 8.0, value=2.0, step=0.25, label="Window (s)", elem_id="dk-window",
                                       info="each prediction looks at this much video")
                    stride = gr.Slider(0.25, 8.0, value=1.0, step=0.25, label="Stride (s)",
                                       info="one window every this many seconds")
                    head = gr.Radio(list(HEADS), value="global", label="Head",
                                    info="global (the paper's), local (NRM-fused snippets) or fused (their mean)")
                    detector = gr.Radio(list(DETECTORS), value="mtcnn", label="Face detector",
                                        info="none: the video already is one face, cropped")
                    detect_every = gr.Slider(1, 30, value=5, step=1, label="Find faces on every k-th frame")
                    min_face = gr.Slider(12, 200, value=20, step=1, label="Smallest face (pixels)")
                    threshold = gr.Slider(0.5, 0.99, value=0.8, step=0.01, label="Detection confidence")
                    max_faces = gr.Number(value=0, precision=0, minimum=0, label="Most faces per frame (0: all)")
                    crop_scale = gr.Slider(1.0, 2.0, value=1.3, step=0.01, label="Crop scale",
                                           info="crop side over the face box (1.3: framed like DFEW)")
                    prompts = gr.Dropdown(list_prompt_sets(), value=engine.choice.prompts, visible=zero_shot,
                                          label="Classes and prompts (zero-shot)")
                    custom = gr.Textbox(lines=4, visible=zero_shot, label="Or your own classes: one prompt a line",
                                        placeholder="a smiling face\na frowning face")
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", elem_id="dk-run")
                    cancel_btn = gr.Button("Cancel", variant="stop", elem_id="dk-cancel")
            with gr.Column(scale=3):
                status = gr.Markdown(elem_id="dk-status")
                pick = gr.Dropdown(label="Result shown", visible=False, elem_id="dk-pick", interactive=True)
                video_out = gr.Video(label="Annotated video", interactive=False, elem_id="dk-annotated")
                segments = gr.Dataframe(headers=SEGMENT_HEADERS, interactive=False, elem_id="dk-segments",
                                        label="Expression segments per face (click a row to jump the video there)")
                seek = gr.Number(visible=False, elem_id="dk-seek")
                timeline = gr.Image(label="Timeline: class probabilities of each face over time", type="filepath",
                                    interactive=False, elem_id="dk-timeline")
                aus = gr.Image(label="Action units: evidence of each AU over time (red: the AU shows)",
                               type="filepath", interactive=False, elem_id="dk-aus")
                download = gr.File(label="Everything dkclip predict writes (zip)", interactive=False,
                                   elem_id="dk-zip")

        shown = [status, pick, video_out, segments, timeline, aus, download]
        form = [video_in, files_in, window, stride, head, detector, detect_every, min_face, threshold, max_faces,
                crop_scale, prompts, custom]

        def on_run(video: str | None, files: list[str] | None, window: float, stride: float, head: str,
                   detector: str, detect_every: float, min_face: float, threshold: float, max_faces: float | None,
                   crop_scale: float, prompts: str | None, custom: str | None, request: gr.Request,
                   progress: gr.Progress = gr.Progress()) -> list[Any]:  # noqa: B008 (Gradio injects it)
            session = engine.session(request.session_hash or "anonymous")
            uploads = ([video] if video else []) + [str(f) for f in files or []]
            try:
                settings = RunSettings.from_form(window=window, stride=stride, head=head, detector=detector,
                                                 detect_every=detect_every, min_face_size=min_face,
                                                 threshold=threshold, max_faces=max_faces, crop_scale=crop_scale)
                spec = engine.prompt_spec(session, prompts, custom) if zero_shot else None
                outcome = engine.run(session, uploads, settings, spec,
                                     progress=lambda fraction, text: progress(fraction, desc=text))
            except Cancelled:
                return [_message("Cancelled. Nothing of that run was kept; press Run to start again."),
                        *[gr.skip()] * (len(shown) - 1)]
            except (DKClipError, OSError) as exc:
                return [_message(_one_line(exc)), *[gr.skip()] * (len(shown) - 1)]
            except Exception as exc:  # a bug: one line here, the traceback in the server's log
                logger.exception("dkclip app: run failed")
                return [_message(f"Internal error ({type(exc).__name__}: {exc}); the server log has the details."),
                        *[gr.skip()] * (len(shown) - 1)]
            names = [o.name for o in outcome.ok]
            first = outcome.ok[0] if outcome.ok else None
            return [run_status(outcome),
                    gr.update(choices=names, value=names[0] if names else None, visible=len(names) > 1),
                    *_views(first), str(outcome.zip_path) if outcome.zip_path else None]

        def on_pick(name: str | None, request: gr.Request) -> list[Any]:
            session = engine.session(request.session_hash or "anonymous")
            last = session.last
            chosen = next((o for o in last.ok if o.name == name), None) if last is not None else None
            return _views(chosen)

        def on_select(evt: gr.SelectData) -> float | None:
            row = evt.row_value
            try:
                return float(row[1])  # the segment's start
            except (TypeError, ValueError, IndexError):
                return None

        def on_cancel(request: gr.Request) -> None:
            # No output of its own: the run, stopped at its next frame, says "Cancelled." (a message from here
            # could arrive after that one and stay).
            engine.cancel(request.session_hash or "anonymous")

        def on_unload(request: gr.Request) -> None:
            engine.close_session(request.session_hash or "anonymous")

        run_btn.click(on_run, form, shown, show_progress_on=[status, video_out])
        cancel_btn.click(on_cancel, None, None, queue=False)
        pick.change(on_pick, pick, [video_out, segments, timeline, aus])
        segments.select(on_select, None, seek).then(None, seek, None, js=SEEK_JS)
        page.unload(on_unload)
    return page


def _views(outcome: InputOutcome | None) -> list[Any]:
    """The annotated video, the segments table and the two pictures of one input (empty for None)."""
    import pandas as pd

    if outcome is None or outcome.result is None or outcome.folder is None:
        return [None, pd.DataFrame(columns=SEGMENT_HEADERS), None, None]
    table = pd.DataFrame(segment_rows(outcome.result), columns=SEGMENT_HEADERS)
    aus = outcome.folder / "aus.png"
    return [str(outcome.video) if outcome.video else None, table, str(outcome.folder / "timeline.png"),
            str(aus) if aus.is_file() else None]


def _one_line(exc: BaseException) -> str:
    message = str(exc).strip() or type(exc).__name__
    hint = getattr(exc, "hint", "")
    return f"{message} ({hint})" if hint else message


def _message(text: str) -> str:
    return f"**{text}**"
