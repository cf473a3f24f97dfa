"""``dkclip app`` in a real browser: the app is started on a free localhost port and Debian's headless Chromium
(driven by Playwright's Python package, pointed at /usr/bin/chromium; no browser is ever downloaded) uploads a
rendered two-face scene, waits for the result, checks the segments table against the scene's truth (the way
benchmarks/predict_quality.py scores ``dkclip predict``), jumps the video by clicking a segment, downloads the
zip and compares it byte for byte with what ``dkclip predict`` writes for the same input and settings, reruns
with another window (no decoding and no detection again), and in a second tab (which sees none of the first one's
results) cancels a run, sends a file that is not a video, and closes (its folder is removed). A screenshot of the
page is saved (``DKCLIP_APP_SCREENSHOTS=DIR`` keeps it) and checked not blank. Stopped with SIGTERM, the app
leaves nothing in its temporary folder.

Skipped, with the reason, only where Chromium is not installed (``make`` installs it with apt-get).
"""

from __future__ import annotations

import io
import itertools
import json
import os
import re
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bench_helpers import load_benchmark

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SHOTS = Path(os.environ.get("DKCLIP_APP_SCREENSHOTS", "")) if os.environ.get("DKCLIP_APP_SCREENSHOTS") else None
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
START_TIMEOUT = 120  # s: the app imports torch and Gradio and builds the model before it answers
RUN_TIMEOUT_MS = 180_000
WAIT_MS = 60_000  # anything else the page does (generous: the machine may be busy)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.is_file(), reason=f"Chromium is not installed at {CHROMIUM} (make installs "
                                                      "Debian's chromium with apt-get; it could not here)"),
]


def _bench() -> ModuleType:
    """benchmarks/predict_quality.py: the scoring of a prediction against a scene's truth."""
    return load_benchmark("predict_quality")


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3 s, 320x180 rendered scene with two faces (scene.mp4, its truth in scene.json)."""
    from dkclip.synth.scenes import SceneSpec, write_scene

    folder = tmp_path_factory.mktemp("scene")
    write_scene(SceneSpec(scene_id="scene", num_faces=2, num_frames=90, seed=3, width=320, height=180), folder)
    return folder / "scene.mp4"


def _env(tmp: Path) -> dict[str, str]:
    # The same environment for the app and the command line: results are byte-identical only on the same
    # thread count (floating point), so neither may differ in OMP/MKL settings.
    return {**os.environ, "TMPDIR": str(tmp), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """``dkclip app`` on a free port, its own TMPDIR (to check that it leaves nothing there); stopped with
    SIGTERM at the end."""
    pytest.importorskip("gradio", reason="the app needs Gradio: pip install 'dkclip[app]' (make installs it)")
    from dkclip.app.server import free_port

    tmp = tmp_path_factory.mktemp("app-tmp")
    port = free_port()
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    with log.open("w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "dkclip.cli", "app", "--port", str(port)], stdout=fh,
                                stderr=subprocess.STDOUT, env=_env(tmp), cwd=tmp)
    url = f"http://127.0.0.1:{port}/"
    info = {"url": url, "proc": proc, "log": log, "tmp": tmp}
    try:
        yield info
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _wait_ready(app: dict[str, Any]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        text = app["log"].read_text()
        if f"open {app['url']}" in text:
            return
        assert app["proc"].poll() is None, f"dkclip app exited:\n{text}"
        time.sleep(0.5)
    raise AssertionError(f"dkclip app did not answer within {START_TIMEOUT} s:\n{app['log'].read_text()}")


def _cli(scene: Path, folder: Path) -> subprocess.Popen[str]:
    """``dkclip predict`` on a copy of the scene, with the settings the page starts with."""
    folder.mkdir(parents=True)
    (folder / "scene.mp4").write_bytes(scene.read_bytes())
    command = ["predict", "scene.mp4", "--out", "results", "--render", "results/annotated.mp4"]
    return subprocess.Popen([sys.executable, "-m", "dkclip.cli", *command], cwd=folder, env=_env(folder),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _status(page: Any) -> str:
    return str(page.locator("#dk-status").inner_text())


def _run_and_wait(page: Any, expect: str) -> str:
    """Press Run and wait for the status to show ``expect`` (the progress text is in the same place, so the
    final status is recognised by its own words)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    before = _status(page)
    page.click("#dk-run")
    try:
        page.wait_for_function("([want, before]) => { const t = document.querySelector('#dk-status').innerText; "
                               "return t.includes(want) && t !== before; }", arg=[expect, before],
                               timeout=RUN_TIMEOUT_MS)
    except PlaywrightTimeout:
        raise AssertionError(f"no {expect!r} on the page; it says:\n{_status(page)}") from None
    return _status(page)


SEGMENT_ROWS = "#dk-segments [role=row].virtual-row"  # Gradio's data grid: one div per row, gridcell divs


def _segments(page: Any) -> list[list[str]]:
    rows = page.locator(SEGMENT_ROWS)
    return [[c.strip() for c in rows.nth(i).locator("[role=gridcell]").all_inner_texts()]
            for i in range(rows.count())]


def _not_blank(png: bytes) -> None:
    import numpy as np
    from PIL import Image

    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.shape[0] > 600 and pixels.shape[1] > 1000
    assert pixels.std() > 20 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500


def _set_slider(page: Any, elem_id: str, value: str, tries: int = 6) -> None:
    """Type ``value`` into a Gradio slider's number box until the page has it. Gradio takes the number on blur,
    and a slider that is still being mounted (an accordion just opened, a busy machine) can drop the first value:
    so type, leave the box, and check that the range input shows it; again if not."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    number = page.locator(f"#{elem_id} input[type=number]")
    number.wait_for(state="visible", timeout=WAIT_MS)
    for _ in range(tries):
        number.fill(value)
        number.press("Tab")
        try:
            page.wait_for_function(f"document.querySelector('#{elem_id} input[type=range]').value === '{value}'",
                                   timeout=10_000)
            return
        except PlaywrightTimeout:
            continue
    raise AssertionError(f"the slider #{elem_id} did not take {value} in {tries} tries")


def test_the_app_in_a_real_browser(app: dict[str, Any], scene: Path, tmp_path: Path) -> None:
    pytest.importorskip("playwright", reason="the browser test drives Chromium with Playwright: pip install "
                                             "playwright (make installs it); never `playwright install`")
    from playwright.sync_api import sync_playwright

    cli = _cli(scene, tmp_path / "cli")  # runs while the app starts
    _wait_ready(app)
    truth = json.loads(scene.with_suffix(".json").read_text())
    with sync_playwright() as pw:
        browser = pw.chromium.launch_persistent_context(
            str(tmp_path / "profile"), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000}, accept_downloads=True)
        try:
            page = browser.new_page()
            outside: list[str] = []
            page.on("request", lambda r: None if r.url.startswith(app["url"]) or r.url.startswith(("data:", "blob:"))
                    else outside.append(r.url))
            page.goto(app["url"])
            page.wait_for_selector("#dk-run", timeout=WAIT_MS)
            assert "not meaningful" in page.locator("#dk-warning").inner_text()  # the default model's warning

            # 1. Upload the scene, run, wait.
            page.locator("#dk-video-in input[type=file]").set_input_files(str(scene))
            page.wait_for_selector("#dk-video-in video", timeout=WAIT_MS)
            status = _run_and_wait(page, "command line")
            assert "scene.mp4: 2 faces" in status, status
            command = re.search(r"dkclip predict .*", status)
            assert command is not None
            assert command.group(0).strip().endswith("--out results --render results/annotated.mp4")
            shot = page.screenshot(full_page=True)
            _not_blank(shot)
            (tmp_path / "app.png").write_bytes(shot)
            if SHOTS is not None:
                SHOTS.mkdir(parents=True, exist_ok=True)
                (SHOTS / "app.png").write_bytes(shot)

            # 2. Download the zip: the command line's files, byte for byte.
            with page.expect_download(timeout=WAIT_MS) as download:
                page.locator("#dk-zip a[download]").first.click()
            archive = tmp_path / "download.zip"
            download.value.save_as(archive)
            out, _ = cli.communicate(timeout=300)
            assert cli.returncode == 0, out
            results = tmp_path / "cli" / "results"
            with zipfile.ZipFile(archive) as zf:
                names = sorted(zf.namelist())
                assert names == sorted(p.name for p in results.iterdir() if not p.name.startswith("."))
                assert names == ["annotated.mp4", "aus.png", "frames.csv", "timeline.png", "windows.csv",
                                 "windows.json"]
                for name in names:
                    assert zf.read(name) == (results / name).read_bytes(), name

            # 3. The segments table against the scene's truth, as predict_quality scores dkclip predict.
            import pandas as pd

            frames, windows = pd.read_csv(results / "frames.csv"), pd.read_csv(results / "windows.csv")
            score = _bench().score_scene(truth, frames, windows, list(truth["classes"]))
            assert score.truth_matched >= 0.9 * score.truth_frames  # track recall
            assert score.predicted_matched == score.predicted_frames  # every tracked box is on a face
            assert score.switches_apart == 0 and score.windows_on_no_face == 0
            rows = _segments(page)
            tracked = frames.dropna(subset=["face_id"])
            assert {int(r[0]) for r in rows} == {1, 2} == set(tracked["face_id"].astype(int))
            for face, group in tracked.groupby("face_id"):
                mine = [r for r in rows if int(r[0]) == int(face)]
                # the face's segments tile the time it is tracked, from its first frame to its last
                assert float(mine[0][1]) == pytest.approx(group["approx_time"].min(), abs=0.01)
                assert float(mine[-1][2]) == pytest.approx(group["approx_time"].max() + 1 / 30, abs=0.01)
                assert all(float(a[2]) == pytest.approx(float(b[1]), abs=0.01) for a, b in itertools.pairwise(mine))
                assert all(r[3] in truth["classes"] and 0 < float(r[4]) <= 1 for r in mine)

            # 4. A click on a segment jumps the annotated video to its start.
            target = next(r for r in rows if float(r[1]) > 0)
            page.locator(SEGMENT_ROWS).nth(rows.index(target)).locator("[role=gridcell]").nth(1).click()
            page.wait_for_function("(t) => Math.abs(document.querySelector('#dk-annotated video').currentTime - t)"
                                   " < 0.05", arg=float(target[1]), timeout=WAIT_MS)

            # 5. Rerun with another window: frames and faces are reused, only the rest runs again.
            page.locator("#dk-video-in").scroll_into_view_if_needed()
            page.get_by_text("Settings").click()
            _set_slider(page, "dk-window", "1.5")
            status = _run_and_wait(page, "Rerun (changed: window)")
            assert "reused the decoded frames and the faces found" in status, status
            assert "--window 1.5" in status

            # 6. A second tab is another session: it sees none of the first one's results.
            other = browser.new_page()
            other.goto(app["url"])
            other.wait_for_selector("#dk-run", timeout=WAIT_MS)
            assert "scene.mp4" not in _status(other) and other.locator(SEGMENT_ROWS).count() == 0
            # Cancel stops a run between two frames and says so.
            other.locator("#dk-video-in input[type=file]").set_input_files(str(scene))
            other.wait_for_selector("#dk-video-in video", timeout=WAIT_MS)
            other.click("#dk-run")
            other.wait_for_function("document.querySelector('#dk-status').innerText.includes('frame')",
                                    timeout=RUN_TIMEOUT_MS)
            other.click("#dk-cancel")
            other.wait_for_function("document.querySelector('#dk-status').innerText.includes('Cancelled.')",
                                    timeout=WAIT_MS)
            other.locator("#dk-video-in button[aria-label='Clear']").first.click()
            sessions = sorted(app["tmp"].glob("dkclip-app-*/sessions/*"))  # a tab's folder: from its first run
            # ... and a text file named .mp4 there is a plain message, not a traceback; the first tab is intact.
            fake = tmp_path / "upload" / "holiday.mp4"
            fake.parent.mkdir()
            fake.write_text("not a video\n" * 100)
            other.locator("#dk-files-in input[type=file]").set_input_files(str(fake))
            other.wait_for_selector("#dk-files-in td.filename", timeout=WAIT_MS)
            bad = _run_and_wait(other, "could not be used")
            assert "holiday.mp4: could not be used." in bad and "Traceback" not in bad and "/tmp" not in bad, bad
            assert "Rerun (changed: window)" in _status(page)
            # Closing a tab removes its folder (uploads, kept frames, results); the other tab's stays.
            assert len(sessions) == 2
            other.close()
            # Gradio notices a closed tab by its connection (seconds; 30 s was too short on a loaded 2-core CI box)
            deadline = time.monotonic() + 120
            while len(list(app["tmp"].glob("dkclip-app-*/sessions/*"))) > 1 and time.monotonic() < deadline:
                time.sleep(0.2)
            left = list(app["tmp"].glob("dkclip-app-*/sessions/*"))
            assert len(left) == 1, (left, app["log"].read_text()[-3000:])
            assert not outside, f"the page loaded from outside the app: {outside[:5]}"
        finally:
            browser.close()
    # Stopped (SIGTERM), the app leaves nothing in its temporary folder.
    app["proc"].terminate()
    app["proc"].wait(timeout=30)
    left = [p.name for p in app["tmp"].iterdir() if p.name.startswith("dkclip-app-")]
    assert left == [], left
