"""``dkclip ablate --quick`` end to end on a tiny setting: real trainings, the NRM's noise detection measured on
the real test split, resume/skip and the report block."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import dkclip.engine.trainer as trainer_module
from dkclip.ablation.checks import VERDICTS
from dkclip.ablation.report import BEGIN_MARKER, END_MARKER
from dkclip.cli import main as cli_main

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
        calls.append({"name": cfg.run.name, "resume": resume, "consistency": cfg.loss.use_consistency})
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


@pytest.mark.slow
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
    assert sorted(c["consistency"] for c in counted_train).count(False) == 3  # Table 4's first three steps
    summary = json.loads((out / "ablation.json").read_text())
    assert len(summary["rows"]) == CELLS
    assert summary["setting"]["distinct_runs"] == DISTINCT and summary["setting"]["seeds"] == [0]
    assert summary["setting"]["pretrained"] == "synthclip"
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
    assert "fine-tuned from pretrained weights `synthclip`" in block
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
    assert len(verdicts) == 6 and set(verdicts) <= VERDICTS
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
