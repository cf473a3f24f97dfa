"""Nothing lost, nothing silent (issue 11), the parts that need no training: the run lock, a full disk, JSON without
NaN, the checks made before any compute (classes, T vs N, workers, every fold of a cross-validation)."""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from engine_helpers import tiny_config, write_config

from dkclip.cli import main as cli_main
from dkclip.engine import builders
from dkclip.engine.checkpoint import atomic_save
from dkclip.engine.run_config import config_from_dict, load_config
from dkclip.engine.runlock import LOCK_NAME, RunLock, RunLockedError, remove_stale_temporaries
from dkclip.engine.trainer import train
from dkclip.errors import ConfigError
from dkclip.fileio import DiskFullError, atomic_write, atomic_write_json, atomic_write_text
from dkclip.tasks.cross_validation import run_cv


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _write_lock(run_dir: Path, pid: int, host: str) -> Path:
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = run_dir / LOCK_NAME
    lock.write_text(json.dumps({"pid": pid, "host": host, "started": "2026-01-01 00:00:00",
                                "command": "dkclip train x"}))
    return lock


# ------------------------------------------------------------------------------------------------ the run lock
def test_lock_names_a_live_owner_and_replaces_a_dead_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    host = socket.gethostname()
    owner = os.getppid()  # alive for the whole test, and not us
    lock_file = _write_lock(tmp_path / "live", owner, host)
    with pytest.raises(RunLockedError, match=rf"in use by process {owner} on {host} .*dkclip train x") as info:
        RunLock(tmp_path / "live").acquire()
    assert str(lock_file) in info.value.hint  # how to clear it once that run is known to be gone
    assert json.loads(lock_file.read_text())["pid"] == owner  # left alone

    dead = _dead_pid()
    _write_lock(tmp_path / "stale", dead, host)
    with caplog.at_level(logging.WARNING, logger="dkclip"):
        lock = RunLock(tmp_path / "stale").acquire()
    assert f"removing a stale lock of {tmp_path / 'stale'}: process {dead} on {host}" in caplog.text
    assert json.loads((tmp_path / "stale" / LOCK_NAME).read_text())["pid"] == os.getpid()
    lock.release()
    assert not (tmp_path / "stale" / LOCK_NAME).exists()

    # Another host's lock cannot be checked from here: refused, never removed.
    _write_lock(tmp_path / "remote", dead, "some-other-node")
    with pytest.raises(RunLockedError, match="on some-other-node"):
        RunLock(tmp_path / "remote").acquire()


def test_a_second_training_into_a_locked_run_fails_at_once_and_leaves_it_alone(synth_root: Path,
                                                                             tmp_path: Path) -> None:
    run_dir = tmp_path / "busy"
    (run_dir / "steps.jsonl").parent.mkdir(parents=True)
    (run_dir / "steps.jsonl").write_text("")
    host = socket.gethostname()
    _write_lock(run_dir, os.getppid(), host)
    cfg = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": "busy"}))
    with pytest.raises(RunLockedError, match=rf"process {os.getppid()} on {host}"):
        train(cfg)
    # The refused process wrote and removed nothing (the directory was not its own to clean up).
    assert sorted(p.name for p in run_dir.iterdir()) == [LOCK_NAME, "steps.jsonl"]


def test_stale_temporaries_of_a_killed_save_are_removed(tmp_path: Path) -> None:
    (tmp_path / "best").mkdir()
    stale = [tmp_path / ".last.pt.k2j3h4.tmp", tmp_path / "best" / ".model.safetensors.x9.tmp"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    keep = tmp_path / "last.pt"
    keep.write_bytes(b"the good one")
    assert sorted(remove_stale_temporaries(tmp_path)) == sorted(stale)
    assert not any(p.exists() for p in stale) and keep.read_bytes() == b"the good one"


# ---------------------------------------------------------------------------------------------- a full disk
def _enospc(*args: object, **kwargs: object) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_is_one_line_and_the_previous_checkpoint_is_intact(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    last = tmp_path / "last.pt"
    atomic_save({"step": 1}, last)
    good = last.read_bytes()

    def half_then_full(obj: object, fh: object, *args: object, **kwargs: object) -> None:
        fh.write(b"PK\x03\x04 half a checkpoint")  # type: ignore[attr-defined]
        _enospc()

    monkeypatch.setattr(torch, "save", half_then_full)
    with pytest.raises(DiskFullError) as info:
        atomic_save({"step": 2}, last)
    message = str(info.value)
    assert "\n" not in message
    assert f"no space left on the device writing {last}" in message and "the previous last.pt is intact" in message
    assert isinstance(info.value, OSError)  # callers that caught OSError still do
    assert last.read_bytes() == good
    assert not list(tmp_path.glob(".*.tmp"))

    with pytest.raises(DiskFullError, match=r"no new\.json was written \(there was none before\)"):
        atomic_write(tmp_path / "new.json", _enospc)
    assert not (tmp_path / "new.json").exists() and not list(tmp_path.glob(".*.tmp"))


def test_full_disk_through_the_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    import dkclip.fileio as fileio

    a = tmp_path / "a.csv"
    a.write_text("path,label,label_name,global_pred,global_p_x,global_p_y\nc1,0,x,x,0.9,0.1\nc2,1,y,y,0.2,0.8\n")
    out = tmp_path / "cmp.json"
    out.write_text("{}\n")
    real_write = fileio.atomic_write

    def full(path: str | os.PathLike, write: object) -> Path:
        return real_write(path, _enospc)

    monkeypatch.setattr(fileio, "atomic_write", full)
    assert cli_main(["compare", str(a), str(a), "--resamples", "10", "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("dkclip compare: error: no space left on the device writing")
    assert "cmp.json is intact" in err[0] and err[1].startswith("  hint: free space in")
    assert len(err) == 2 and out.read_text() == "{}\n"


# ------------------------------------------------------------------------------------------------ no NaN in JSON
def test_json_never_holds_nan(tmp_path: Path) -> None:
    path = atomic_write_json(tmp_path / "r.json", {"uar": float("nan"), "war": np.float64("inf"),
                                                   "per_class": [0.5, float("-inf")], "n": 3})

    def refuse(token: str) -> None:
        raise AssertionError(f"non-standard JSON token {token}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data == {"uar": None, "war": None, "per_class": [0.5, None], "n": 3}
    assert atomic_write_text(tmp_path / "t.txt", "é\n").read_bytes() == "é\n".encode()


# ------------------------------------------------------------------------------- checks before any compute
def test_a_head_with_more_classes_than_the_data_is_refused_before_training(synth_root: Path, tmp_path: Path) -> None:
    # mafw: 11 prompts; the synthetic data has 7 classes. The 4 classes without clips would get a head trained
    # only as negatives, while UAR (over the classes present) looks normal: refused unless asked for.
    cfg = config_from_dict(tiny_config(synth_root, tmp_path, model={"prompts": "mafw"}, run={"name": "k11"}))
    with pytest.raises(ConfigError, match=r"model\.prompts has 11 classes but the training data has no clip of 4 "
                                          r"of them \(contempt, anxiety, helplessness, disappointment\)") as info:
        train(cfg)
    assert "data.allow_missing_classes" in info.value.hint
    assert not (tmp_path / "k11").exists()  # a failed start leaves no run directory


def test_eval_frames_must_fit_the_snippets(synth_root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"data\.eval_num_frames=6 must be a multiple of the model's 4 snippets"):
        config_from_dict(tiny_config(synth_root, tmp_path, data={"eval_num_frames": 6}))
    with pytest.raises(ConfigError, match=r"data\.num_frames=4 must be a multiple of the model's 3 snippets "
                                          r"\(model\.options\.num_snippets\)"):
        config_from_dict(tiny_config(synth_root, tmp_path, model={"options": {"num_snippets": 3}},
                                     data={"eval_num_frames": 9}))
    with pytest.raises(ConfigError, match=r"--set data\.eval_num_frames=10|data\.eval_num_frames=10 must"):
        load_config("synthetic_tiny", ["data.eval_num_frames=10"])


def test_workers_beyond_the_cpus_are_clamped_with_a_warning(monkeypatch: pytest.MonkeyPatch,
                                                           caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(builders, "available_cpus", lambda: 3)
    monkeypatch.setattr(builders, "_warned_workers", set())
    with caplog.at_level(logging.WARNING, logger="dkclip"):
        assert builders.loader_workers(2) == 2
        assert caplog.text == ""
        assert builders.loader_workers(64) == 3
        assert builders.loader_workers(64) == 3
    assert caplog.text.count("data.workers=64 but this process can use 3 CPUs: using 3 loader workers") == 1


def test_cv_checks_every_folds_lists_before_the_first_fold(synth_root: Path, tmp_path: Path) -> None:
    lists = tmp_path / "lists"
    lists.mkdir()
    train_lines = (synth_root / "set_1_train.txt").read_text().splitlines()
    test_lines = (synth_root / "set_1_test.txt").read_text().splitlines()
    for fold in (1, 2, 3, 4):
        (lists / f"f{fold}_test.txt").write_text("\n".join(test_lines) + "\n")
    (lists / "f1_train.txt").write_text("\n".join(train_lines) + "\n")  # good
    (lists / "f2_train.txt").write_text("\n".join(line for line in train_lines if not line.endswith(" 6")) + "\n")
    (lists / "f4_train.txt").write_text("# nothing but a comment\n")
    (lists / "f3_test.txt").unlink()
    (lists / "f3_train.txt").write_text("\n".join(train_lines) + "\n")
    cfg = config_from_dict(tiny_config(synth_root, tmp_path / "runs",
                                       data={"train_list": str(lists / "f{fold}_train.txt"),
                                             "test_list": str(lists / "f{fold}_test.txt")}))
    with pytest.raises(ConfigError) as info:
        run_cv(cfg, [1, 2, 3, 4], "cv")
    message = str(info.value)
    assert message.startswith("cross-validation: 3 problems in the fold lists, nothing trained")
    assert "fold 2: data.train_list: no clip of class 6 of the 7 classes of model.prompts" in message
    assert f"fold 3: data.test_list: {lists / 'f3_test.txt'}: list file not found" in message
    assert f"fold 4: data.train_list: {lists / 'f4_train.txt'} has no usable clips" in message
    assert "fold 1" not in message
    assert not (tmp_path / "runs").exists()  # fold 1 did not start


def test_cv_command_reports_the_fold_problems_on_one_line(synth_root: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tiny_config(synth_root, tmp_path / "runs", data={"train_list": str(tmp_path / "f{fold}_train.txt"),
                                                            "test_list": str(tmp_path / "f{fold}_test.txt")})
    path = write_config(tmp_path / "cv.yaml", cfg)
    assert cli_main(["cv", str(path), "--folds", "1,2"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("dkclip cv: error: cross-validation: 4 problems in the fold lists")
    assert err[1].startswith("  hint:") and len(err) == 2


def _list(path: Path, lines: list[str]) -> str:
    path.write_text("".join(f"{line}\n" for line in lines))
    return str(path)


def test_validation_and_test_splits_are_checked_before_training(synth_root: Path, tmp_path: Path) -> None:
    lines = (synth_root / "set_1_train.txt").read_text().splitlines()
    one_per_class = [next(line for line in lines if line.endswith(f" {k}")) for k in range(7)]
    small = {"batch_size": 4, "effective_batch": 4}

    def refused(name: str, match: str, **sections: dict) -> ConfigError:
        cfg = config_from_dict(tiny_config(synth_root, tmp_path, run={"name": name}, **sections))
        with pytest.raises(ConfigError, match=match) as info:
            train(cfg)
        assert not (tmp_path / name).exists()
        return info.value

    # One clip per class: a stratified carve has nothing to take.
    refused("empty", r"the validation carve \(data\.val_fraction=0\.1\) is empty \(7 training clips\)",
            data={"train_list": _list(tmp_path / "seven.txt", one_per_class)}, schedule=small,
            eval={"select": "val"})
    # An explicit validation list that is the training list.
    refused("leak", r"data\.val_list shares 21 of its 21 clips with the training split",
            data={"val_list": str(synth_root / "set_1_train.txt")}, eval={"select": "val"})
    dup = refused("dup", r"data\.train_list: 1 clips are listed more than once",
                  data={"train_list": _list(tmp_path / "dup.txt", [*lines, lines[0]])})
    assert "data.allow_duplicates" in dup.hint
    refused("overlap", r"data\.test_list shares 1 of its 22 clips with the training split",
            data={"test_list": _list(tmp_path / "test.txt", [*(synth_root / "set_1_test.txt").read_text()
                                                              .splitlines(), lines[3]])})


def test_cv_stopped_by_sigterm_says_how_to_continue(synth_root: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import dkclip.tasks.cross_validation as cv
    from dkclip.engine.trainer import TrainingStopped

    def stopped(cfg: object, **kwargs: object) -> None:
        raise TrainingStopped("stopped by SIGTERM at optimiser step 3; a resumable checkpoint is in x/last.pt",
                              hint="continue with dkclip train --resume x")

    monkeypatch.setattr(cv, "train", stopped)
    cfg = config_from_dict(tiny_config(synth_root, tmp_path, data={
        "train_list": str(synth_root / "set_{fold}_train.txt"), "test_list": str(synth_root / "set_{fold}_test.txt")}))
    with pytest.raises(TrainingStopped, match=r"^fold 1: stopped by SIGTERM at optimiser step 3") as info:
        run_cv(cfg, [1, 2], "cv")
    assert info.value.exit_code == 143 and "run the same dkclip cv command again" in info.value.hint
