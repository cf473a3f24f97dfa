"""``dkclip ablate``: the whole quick grid on a tiny setting, resume/skip, the report block, noise-detection maths."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import dkclip.engine.trainer as trainer_module
from dkclip.cli import main as cli_main
from dkclip.engine import ablation
from dkclip.engine.ablation import (
    BEGIN_MARKER,
    END_MARKER,
    PlannedRun,
    build_base_config,
    build_grid,
    detection_metrics,
    direction_checks,
    execute_run,
    select_experiments,
    snippet_noise,
    write_report_block,
)
from dkclip.engine.config import ConfigError

# Shrinks every run of the grid: 1 epoch, 8-frame test clips (a multiple of N = 1, 2, 4, 8), no workers.
TINY = ["schedule.epochs=1", "schedule.warmup_epochs=0", "schedule.batch_size=8", "schedule.effective_batch=8",
        "data.eval_num_frames=8", "data.workers=0", "data.eval_batch_size=16", "eval.every=1"]
CELLS = 4 + 4 + 5 + 4  # Table 4, Table 5, θ, N
DISTINCT = 14  # the full model is shared by 4 cells


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the machine is shared; one thread is also faster for these tiny batches
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def counted_train(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = trainer_module.train

    def counting(cfg: Any, config_name: str = "custom", resume: Any = None) -> Path:
        calls.append({"name": cfg.run.name, "resume": resume})
        return real(cfg, config_name, resume)

    monkeypatch.setattr(trainer_module, "train", counting)
    return calls


def _table(block: str, heading: str) -> list[list[str]]:
    """The body rows of the Markdown table under the heading that starts with ``heading``."""
    section = block.split(f"### {heading}", 1)[1].split("###", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def _number(cell: str) -> float:
    value = float(cell.split("±")[0].strip().rstrip(" %"))
    assert 0.0 <= value <= 100.0, cell
    return value


def test_quick_grid_runs_once_per_config_resumes_and_writes_the_report(
        synth_root: Path, tmp_path: Path, counted_train: list[dict[str, Any]]) -> None:
    out, report = tmp_path / "ablate", tmp_path / "results.md"
    report.write_text("# Results\n\n## The other engineer's section\n\nkept as it is.\n")
    args = ["ablate", "--quick", "--data", str(synth_root), "--fold", "1", "--out-dir", str(out),
            "--report", str(report), *[a for t in TINY for a in ("--set", t)]]
    assert cli_main(args) == 0

    # Shared configurations trained once: 14 trainings for 17 table cells.
    assert len(counted_train) == DISTINCT < CELLS
    assert all(c["resume"] is None for c in counted_train)
    summary = json.loads((out / "ablation.json").read_text())
    assert len(summary["rows"]) == CELLS
    assert summary["setting"]["distinct_runs"] == DISTINCT and summary["setting"]["seeds"] == [0]
    full_keys = {tuple(summary["rows"][k]["keys"]) for k in ("table4/+CCR", "table5/d", "theta/0.15", "snippets/4")}
    assert len(full_keys) == 1
    assert summary["rows"]["table5/b"]["train_frames"] == 8  # frame-level models train on the test T
    assert summary["rows"]["snippets/8"]["train_frames"] == 8
    assert summary["rows"]["snippets/1"]["train_frames"] == 4
    # The noise detector is measured for NRM runs only.
    assert summary["rows"]["table4/baseline"]["detection"] is None
    assert summary["rows"]["snippets/1"]["detection"] is None  # one snippet is never erased
    det = summary["runs"][summary["rows"]["table4/+CCR"]["keys"][0]]["noise_detection"]
    assert det["counts"]["snippets_in_noisy_clips"] > 0 and det["counts"]["clean_clip_views"] > 0
    with (out / "ablation_runs.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == CELLS

    text = report.read_text()
    assert text.startswith("# Results\n\n## The other engineer's section\n\nkept as it is.\n")
    block = text[text.index(BEGIN_MARKER):text.index(END_MARKER)]
    for heading, rows in (("Table 4", 4), ("Table 5", 4), ("Fig. 3: NRM threshold", 5), ("Fig. 3: number of", 4)):
        table = _table(block, heading)
        assert len(table) == rows, heading
        for row in table:
            uar, war = (row[-2], row[-1]) if heading.startswith("Table") or "number" in heading else (row[1], row[2])
            _number(uar), _number(war)
    assert [r[0] for r in _table(block, "Table 4")] == ["baseline", "+HVE", "+ETP",
                                                        "+CCR (= table5/d, theta/0.15, snippets/4)"]
    detection = _table(block, "The NRM as a noise detector")
    assert len(detection) == 10  # every NRM config with N > 1, the shared full model once
    assert all(_number(row[5]) >= 0 for row in detection)
    verdicts = re.findall(r"Direction check, .+?: \*\*([^*]+)\*\*", block)
    assert len(verdicts) == 6
    assert set(verdicts) <= {"reproduces", "does not reproduce", "near (within one test clip)", "not checked",
                             ablation.FLAT_VERDICT}
    assert "### Where the paper does not reproduce here" in block

    # A rerun skips every finished run and replaces the block instead of appending a second one.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()}
    counted_train.clear()
    assert cli_main(args) == 0
    assert counted_train == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "results").iterdir()} == stamps
    again = report.read_text()
    assert again.count(BEGIN_MARKER) == 1 and again.count(END_MARKER) == 1
    assert again.startswith("# Results\n\n## The other engineer's section")


def _fake_train(calls: list[Any]) -> Any:
    def train(cfg: Any, config_name: str = "custom", resume: Any = None) -> Path:
        run_dir = Path(cfg.run.output_dir) / cfg.run.name
        calls.append((resume, sorted(p.name for p in run_dir.iterdir()) if run_dir.exists() else None))
        run_dir.mkdir(parents=True, exist_ok=True)
        heads = {h: {"uar": 0.5, "war": 0.25} for h in ("global", "local", "fused")}
        (run_dir / "results.json").write_text(json.dumps({"heads": heads, "reported_head": "global",
                                                          "num_test_clips": 4}))
        return run_dir

    return train


def test_interrupted_runs_resume_or_restart(tmp_path: Path) -> None:
    base = build_base_config(None, 1, quick=True, overrides=[])
    exp = select_experiments(build_grid(), ["table4/baseline"])[0]  # no NRM: no model is loaded afterwards
    cfg = ablation.experiment_config(base, exp, seed=0)
    calls: list[Any] = []
    # Died before its first checkpoint: the leftovers are removed and the run starts afresh.
    stale = tmp_path / "runs" / "k1"
    stale.mkdir(parents=True)
    (stale / "steps.jsonl").write_text("{}\n")
    record = execute_run(PlannedRun("k1", 0, cfg, [exp.id]), tmp_path, _fake_train(calls))
    assert calls[-1] == (None, None)
    assert record["heads"]["global"] == {"uar": 0.5, "war": 0.25} and record["noise_detection"] is None
    assert json.loads((tmp_path / "results" / "k1.json").read_text())["experiments"] == [exp.id]
    # Interrupted after a checkpoint: the trainer resumes it.
    partial = tmp_path / "runs" / "k2"
    partial.mkdir(parents=True)
    (partial / "last.pt").write_bytes(b"")
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, _fake_train(calls))
    assert calls[-1] == (partial, ["last.pt"])
    # Trained but not yet recorded: no training, only the record.
    n = len(calls)
    execute_run(PlannedRun("k2", 0, cfg, [exp.id]), tmp_path, _fake_train(calls))
    assert len(calls) == n


def test_snippet_noise_and_detection_metrics_by_hand() -> None:
    flags = np.array([0, 0, 0, 0, 1, 1, 1, 0, 0, 1, 0, 0], dtype=bool)  # 12 frames
    # 8 sampled frames, 4 snippets of 2: (0,1) (4,5) (6,9) (10,11): 0/2, 2/2, 2/2, 0/2 flagged.
    assert snippet_noise(flags, np.array([0, 1, 4, 5, 6, 9, 10, 11]), 4).tolist() == [False, True, True, False]
    # A tie (1 of 2) is not "most"; indices past the end are clamped like the readers do.
    assert snippet_noise(flags, np.array([3, 4, 11, 40]), 2).tolist() == [False, False]

    erased = np.array([[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 0, 0]], dtype=bool)
    noisy = np.array([[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=bool)
    clip_noisy = np.array([True, True, False, False])
    m = detection_metrics(erased, noisy, clip_noisy)
    # Noisy clips: erased 3 snippets, 1 of them noisy; 2 noisy snippets in 8.
    assert m["precision"] == pytest.approx(1 / 3)
    assert m["recall"] == pytest.approx(1 / 2)
    assert m["base_rate"] == pytest.approx(2 / 8)
    assert m["erase_rate_noisy_clips"] == pytest.approx(3 / 8)
    assert m["false_alarm_noisy_clips"] == pytest.approx(2 / 6)
    assert m["erase_rate_clean_clips"] == pytest.approx(1 / 8)
    assert m["counts"]["erased_noisy"] == 1
    none = detection_metrics(np.zeros((1, 4), bool), np.zeros((1, 4), bool), np.array([True]))
    assert none["precision"] is None and none["recall"] is None and none["erase_rate_clean_clips"] is None


def _rows(values: dict[str, float]) -> dict[str, dict[str, Any]]:
    return {k: {"table": k.split("/")[0], "uar": {"mean": v, "std": 0.0, "n": 1}, "keys": [k], "detection": None}
            for k, v in values.items()}


def test_direction_checks_say_when_a_claim_does_not_reproduce() -> None:
    rows = _rows({"table4/baseline": 30.0, "table4/+HVE": 35.0, "table4/+ETP": 33.0, "table4/+CCR": 40.0,
                  "table5/a": 30.0, "table5/b": 31.0, "table5/c": 32.0, "table5/d": 40.0,
                  "theta/0": 40.0, "theta/0.15": 38.0, "theta/0.25": 30.0, "snippets/1": 50.0, "snippets/4": 40.0})
    checks = direction_checks(rows, tol=3.0)
    assert checks["table4"]["verdict"] == "near (within one test clip)"
    assert checks["table4"]["detail"] == "+ETP 33.00 < +HVE 35.00"
    rows["table4/+CCR"]["uar"]["mean"] = 20.0
    assert direction_checks(rows, tol=3.0)["table4"]["verdict"] == "does not reproduce"
    assert direction_checks(rows, tol=3.0)["table4"]["detail"] == "+ETP 33.00 < +HVE 35.00; +CCR 20.00 < +ETP 33.00"
    rows["table4/+CCR"]["uar"]["mean"] = 40.0
    assert checks["table5"]["verdict"] == "reproduces"
    assert checks["theta"]["verdict"] == "near (within one test clip)"
    assert checks["theta"]["detail"] == "best is θ=0 40.00; θ=0.15 38.00"
    assert checks["snippets"]["verdict"] == "does not reproduce"
    assert "nrm" not in checks  # no run measured the noise detection
    rows["theta/0.15"]["uar"]["mean"] = 40.0
    rows["table4/+CCR"]["detection"] = {m: {"mean": v, "std": 0.0, "n": 1} for m, v in (
        ("precision", 20.0), ("base_rate", 25.0), ("erase_rate_noisy_clips", 30.0), ("erase_rate_clean_clips", 10.0))}
    checks = direction_checks(rows, tol=3.0)
    assert checks["theta"] == {"claim": "θ = 0.15 is the best threshold", "verdict": "reproduces",
                               "detail": "θ=0.15 40.00 is the best, tied with θ=0 40.00"}
    assert checks["nrm"]["verdict"] == "does not reproduce"  # precision below the base rate
    assert "precision 20.0% vs base rate 25.0%" in checks["nrm"]["detail"]
    for k in ("theta/0", "theta/0.15", "theta/0.25"):  # a flat curve shows no peak, whatever the paper's best
        rows[k]["uar"]["mean"] = 40.0
    flat = direction_checks(rows, tol=3.0)["theta"]
    assert flat["verdict"] == ablation.FLAT_VERDICT
    assert flat["detail"] == "every setting scores 40.00: θ=0, θ=0.15, θ=0.25"


def test_report_block_is_replaced_appended_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    write_report_block(path, f"{BEGIN_MARKER}\none\n{END_MARKER}")  # no file yet: created
    assert path.read_text() == f"{BEGIN_MARKER}\none\n{END_MARKER}\n"
    path.write_text(f"# Top\n\n{BEGIN_MARKER}\nold\n{END_MARKER}\n\n## After\n")
    write_report_block(path, f"{BEGIN_MARKER}\nnew\n{END_MARKER}")
    assert path.read_text() == f"# Top\n\n{BEGIN_MARKER}\nnew\n{END_MARKER}\n\n## After\n"
    path.write_text("# Top\n")
    write_report_block(path, f"{BEGIN_MARKER}\nx\n{END_MARKER}")
    assert path.read_text() == f"# Top\n\n{BEGIN_MARKER}\nx\n{END_MARKER}\n"
    path.write_text(f"# Top\n{BEGIN_MARKER}\n")
    with pytest.raises(ValueError, match="only one of the markers"):
        write_report_block(path, f"{BEGIN_MARKER}\nx\n{END_MARKER}")


def test_bad_input_is_a_clear_error(synth_root: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(ConfigError, match=r"unknown experiment 'table9/x'.*table4/baseline"):
        select_experiments(build_grid(), ["table9/x"])
    assert [e.id for e in select_experiments(build_grid(), ["table5/*", "theta/0.15"])] == \
        ["table5/a", "table5/b", "table5/c", "table5/d", "theta/0.15"]
    common = ["ablate", "--quick", "--data", str(synth_root), "--out-dir", str(tmp_path / "o"), "--report", "-"]
    with caplog.at_level("ERROR", logger="dkclip"):
        assert cli_main([*common, "--experiments", "table9/x"]) == 2
        assert cli_main([*common, "--set", "schedule.nope=1"]) == 2
        assert cli_main([*common, "--set", "data.eval_num_frames=6"]) == 2  # not a multiple of N = 4, 8
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert "unknown experiment 'table9/x'" in messages
    assert "unknown config key 'schedule.nope'" in messages
    assert "must be a multiple of N" in messages
    assert not (tmp_path / "o" / "runs").exists()  # nothing trained
