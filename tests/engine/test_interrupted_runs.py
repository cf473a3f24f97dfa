"""A run as an unlucky user lives it (issue 11): a real SIGTERM to a running ``dkclip train``, a second training
into the same directory while it runs, a stale lock and a killed save left behind, the resume, and the end result
compared with an uninterrupted run of the same seed. Then ``evaluate`` of a run from another directory, and the
evaluations that must be errors."""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import tiny_config, write_config

import dkclip
from dkclip.cli import main as cli_main
from dkclip.data.errors import DataError
from dkclip.engine.checkpoint import load_training_state
from dkclip.engine.run_config import config_from_dict, load_config
from dkclip.engine.runlock import LOCK_NAME, RunLockedError
from dkclip.engine.trainer import train
from dkclip.pretrained import file_sha256
from dkclip.tasks.evaluate import evaluate

PYTHON_WARNING = re.compile(r"\b\w*Warning:")


def _relative_config(workdir: Path, synth_root: Path, **sections: dict) -> dict:
    """A run config with paths relative to ``workdir`` (the data reached through a link), as a user writes it.
    The test list is small (one clip per class) to keep evaluations short."""
    (workdir / "data").symlink_to(synth_root, target_is_directory=True)
    lines = (synth_root / "set_1_test.txt").read_text().splitlines()
    picked = [next(line for line in lines if line.endswith(f" {k}")) for k in range(7)]
    (workdir / "test7.txt").write_text("".join(f"{line}\n" for line in picked))
    cfg = tiny_config(Path("data"), Path("runs"), **sections)
    cfg["data"].update({"root": "data", "train_list": "data/set_1_train.txt", "test_list": "test7.txt",
                        "eval_num_frames": 4})
    return cfg


def _dkclip(*args: str) -> list[str]:
    return [sys.executable, "-W", "default", "-m", "dkclip.cli", *args]


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _wait_for_first_step(proc: subprocess.Popen, steps: Path) -> None:
    while not (steps.is_file() and steps.read_text().strip()):
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"training ended before its first step:\n{out}\n{err}")
        time.sleep(0.02)


@pytest.mark.slow
def test_sigterm_saves_a_checkpoint_and_the_resumed_run_equals_an_uninterrupted_one(
        synth_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "a"
    work.mkdir()
    cfg = _relative_config(work, synth_root, schedule={"epochs": 2}, eval={"every": 2})
    write_config(work / "job.yaml", cfg)
    # One thread everywhere: the reference (in this process) and the job (two processes) compute bit for bit alike.
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"}

    # The uninterrupted reference, same seed, with every warning shown: there must be none.
    monkeypatch.chdir(work)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            reference = train(load_config("job.yaml", ["run.name=ref"]))
    finally:
        torch.set_num_threads(threads)
    assert [f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})" for w in caught] == []
    total_steps = load_training_state(reference / "last.pt")["step"]

    # The job, with a loader worker, in its own process group; after its first optimiser step, SIGTERM to the
    # whole group (as SLURM does: the loader worker gets it too).
    run_dir = work / "runs" / "job"
    proc = subprocess.Popen(_dkclip("train", "job.yaml", "--set", "run.name=job", "--set", "data.workers=1"),
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for_first_step(proc, run_dir / "steps.jsonl")
        # A second training into the same directory, while the job runs: refused at once, naming the owner.
        host = socket.gethostname()
        second = config_from_dict(tiny_config(synth_root, work / "runs", run={"name": "job"}))
        with pytest.raises(RunLockedError, match=rf"runs/job is in use by process {proc.pid} on {host} "):
            train(second)
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, err[-3000:]
    assert err.count("SIGTERM received: stopping at the next optimiser step and saving a checkpoint") == 1, err
    # One plain line (a requested stop, not an error): where it stopped, what it saved, the exact resume command.
    assert not [line for line in err.splitlines() if line.startswith("dkclip train: error:")], err
    stop_lines = [line for line in err.splitlines() if line.startswith("dkclip train: stopped:")]
    assert len(stop_lines) == 1 and "SIGTERM at epoch" in stop_lines[0] and "optimiser step" in stop_lines[0]
    assert f"saved the resumable checkpoint {run_dir.resolve() / 'last.pt'}" in stop_lines[0]
    assert f"hint: resume with: dkclip train --resume {run_dir.resolve()}" in err
    stopped = load_training_state(run_dir / "last.pt")
    assert 1 <= stopped["step"] < total_steps, "the stop must fall inside the run for the test to mean anything"
    assert not (run_dir / LOCK_NAME).exists()
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["outcome"] == "interrupted" and provenance["ended"]

    # What a SIGKILL during a save leaves: a temporary file, and a lock of a process that no longer exists.
    (run_dir / ".last.pt.x1y2z3.tmp").write_bytes(b"half a checkpoint")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "?"}))

    resumed = subprocess.run(_dkclip("train", "--resume", "runs/job", "--keep-only-best"), cwd=work,
                             env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"removing a stale lock of {run_dir.resolve()}: process {dead.pid}" in resumed.stderr
    assert not list(run_dir.glob(".*.tmp")) and not (run_dir / LOCK_NAME).exists()

    # Exact: every step logged once with the reference's values; per-epoch rows (the interrupted epoch's mean loss
    # included) equal but for the speed column; the same test predictions.
    assert (run_dir / "steps.jsonl").read_text() == (reference / "steps.jsonl").read_text()
    assert len((run_dir / "steps.jsonl").read_text().splitlines()) == total_steps
    job_epochs, ref_epochs = _rows(run_dir / "metrics.csv"), _rows(reference / "metrics.csv")
    assert [r["epoch"] for r in job_epochs] == ["0", "1"]
    for job_row, ref_row in zip(job_epochs, ref_epochs, strict=True):
        assert {k: v for k, v in job_row.items() if k != "clips_per_s"} == \
            {k: v for k, v in ref_row.items() if k != "clips_per_s"}
    assert (run_dir / "predictions.csv").read_text() == (reference / "predictions.csv").read_text()
    assert json.loads((run_dir / "results.json").read_text())["heads"] == \
        json.loads((reference / "results.json").read_text())["heads"]

    # Provenance of the finished run; --keep-only-best kept best/ and dropped last.pt (the optimiser state).
    provenance = json.loads((run_dir / "provenance.json").read_text())
    assert provenance["outcome"] == "finished" and provenance["resumed_from"] == str(run_dir.resolve() / "last.pt")
    assert provenance["inputs"]["train_list"]["sha256"] == file_sha256(synth_root / "set_1_train.txt")
    assert provenance["code"]["git_commit"] and provenance["environment"]["world_size"] == 1
    assert not (run_dir / "last.pt").exists() and (reference / "last.pt").is_file()
    assert "run.keep=best: removed last.pt" in (run_dir / "console.log").read_text()
    assert dkclip.load_model(run_dir).config.num_classes == 7
    assert not PYTHON_WARNING.search(resumed.stderr), resumed.stderr  # deprecations shown too (-W default)


# ------------------------------------------------------------------------------------- evaluate a finished run
@pytest.fixture(scope="module")
def relative_run(synth_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One optimiser step of a run started from its own folder with relative paths."""
    work = tmp_path_factory.mktemp("a")
    cfg = _relative_config(work, synth_root, run={"name": "rel", "max_steps": 1})
    before = Path.cwd()
    os.chdir(work)
    try:
        run_dir = train(config_from_dict(cfg))
    finally:
        os.chdir(before)
    return run_dir


@pytest.mark.slow
def test_evaluate_a_run_from_another_directory(relative_run: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert relative_run.is_absolute()
    saved = load_config(relative_run / "config.yaml")
    assert all(Path(p).is_absolute() for p in (saved.data.root, saved.data.train_list, saved.data.test_list))
    elsewhere = tmp_path / "b"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    model = os.path.relpath(relative_run, elsewhere)
    assert cli_main(["evaluate", model]) == 0
    out = relative_run / "eval-test7"
    result = json.loads((out / "results.json").read_text())
    rows = _rows(out / "predictions.csv")
    assert len(rows) == result["num_clips"] == 7
    model_config = dkclip.load_model(relative_run).config
    names, n = model_config.class_labels, model_config.num_snippets
    confusion = np.zeros((7, 7), dtype=int)
    for row in rows:
        probs = np.array([float(row[f"global_p_{c}"]) for c in names])
        assert probs.sum() == pytest.approx(1.0, abs=1e-6)
        assert row["global_pred"] == names[int(probs.argmax())]
        confusion[int(row["label"]), names.index(row["global_pred"])] += 1
        assert re.fullmatch(rf"[01]{{{n}}}", row["kept"]) and len(row["snippet_scores"].split()) == n
    assert confusion.tolist() == result["heads"]["global"]["confusion"]
    per_class = _rows(out / "per_class.csv")
    assert [r["class"] for r in per_class] == [*names, "UAR", "WAR"]
    assert float(per_class[-2]["global_recall"]) == pytest.approx(result["heads"]["global"]["uar"], abs=1e-6)
    for head in ("global", "local", "fused"):
        assert (out / f"{head}_confusion.csv").is_file()
    assert not list(elsewhere.iterdir())  # nothing written where the command was run


@pytest.mark.slow
def test_evaluate_of_nothing_is_an_error(relative_run: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# no clips\n")
    assert cli_main(["evaluate", str(relative_run), "--list", str(empty), "--out", str(tmp_path / "e")]) == 1
    assert f"{empty}: the list has no usable clips" in capsys.readouterr().err
    unreadable = tmp_path / "gone.txt"
    unreadable.write_text("".join(f"{tmp_path}/missing{i} 8 {i % 7}\n" for i in range(5)))
    cfg = load_config(relative_run / "config.yaml", ["data.on_error=skip"])
    with pytest.raises(DataError, match=r"every clip was skipped as unreadable \(0 clips read; 5 bad samples"):
        evaluate(relative_run, cfg, str(unreadable), tmp_path / "g")
    assert not (tmp_path / "g" / "results.json").exists()
    assert cli_main(["evaluate", str(relative_run), "--frames", "6", "--out", str(tmp_path / "f")]) == 2
    assert "--frames 6: the model splits a clip into 4 snippets" in capsys.readouterr().err
