"""``dkclip ablate --quick`` end to end on a tiny setting: real trainings, every run evaluated from its kept weights on
a real held-out set (the NRM's noise detection against the generator's truth), resume/skip and the report
block."""

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
from dkclip.ablation.report import BEGIN_MARKER, END_MARKER
from dkclip.ablation.summary import VERDICTS
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
    section = block.split(f"#### {heading}", 1)[1].split("\n\n|", 1)[1].split("\n\n", 1)[0]
    rows = ["|" + line if i == 0 else line for i, line in enumerate(section.splitlines()) if i == 0
            or line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def _number(cell: str) -> float:
    value = float(cell.split("±")[0].split("[")[0].strip().rstrip(" %"))
    assert 0.0 <= value <= 100.0, cell
    return value


@pytest.mark.slow
def test_quick_grid_runs_once_per_config_resumes_and_writes_the_report(
        synth_root: Path, heldout_root: Path, tmp_path: Path, counted_train: list[dict[str, Any]]) -> None:
    out, report = tmp_path / "ablate", tmp_path / "results.md"
    report.write_text("# Results\n\n## The other engineer's section\n\nkept as it is.\n")
    args = ["ablate", "--quick", "--data", str(synth_root), "--heldout", str(heldout_root), "--fold", "1",
            "--out-dir", str(out), "--report", str(report), *[a for t in TINY for a in ("--set", t)]]
    assert cli_main(args) == 0

    # Shared configurations trained once: 14 trainings for 17 table cells.
    assert len(counted_train) == DISTINCT < CELLS
    assert all(c["resume"] is None for c in counted_train)
    assert sorted(c["consistency"] for c in counted_train).count(False) == 3  # Table 4's first three steps
    summary = json.loads((out / "ablation.json").read_text())
    part = summary["parts"]["aligned"]
    grid_cells = {k: c for k, c in part["cells"].items() if c["table"] != "nrm-test"}
    assert len(grid_cells) == CELLS and set(summary["parts"]) == {"aligned"}
    assert part["setting"]["distinct_runs"] == DISTINCT and summary["seeds"] == [0] and part["missing"] == []
    assert part["setting"]["pretrained"] == "synthclip"
    # The quick held-out set: the first 20 clips per class of the held-out list (here all 3 per class).
    assert part["setting"]["heldout_clips"] == 21
    full_keys = {tuple(part["cells"][k]["keys"]) for k in ("table4/+CCR", "table5/d", "theta/0.15", "snippets/4")}
    assert len(full_keys) == 1
    assert part["cells"]["table5/b"]["train_frames"] == 8  # frame-level models train on the test T
    assert part["cells"]["snippets/8"]["train_frames"] == 8
    assert part["cells"]["snippets/1"]["train_frames"] == 4
    # The noise detector is measured for NRM runs only, on real generator truth.
    assert part["cells"]["table4/baseline"]["detection"] is None
    assert part["cells"]["snippets/1"]["detection"] is None  # one snippet is never erased
    full = part["runs"][part["cells"]["table4/+CCR"]["keys"][0]]
    assert set(full["evaluations"]) == {"heldout", "fold", "heldout@nrm_norm=zscore", "heldout@nrm_norm=none"}
    det = full["evaluations"]["heldout"]["detection"]
    assert det["counts"]["snippets_in_noisy_clips"] > 0
    # The evaluation of the kept weights reproduces the trainer's own test numbers on the fold.
    assert full["evaluations"]["fold"]["heads"] == full["heads"]
    with (out / "ablation_runs.csv").open() as fh:
        assert len(list(csv.DictReader(fh))) == CELLS + 3

    text = report.read_text()
    assert text.startswith("# Results\n\n## The other engineer's section\n\nkept as it is.\n")
    block = text[text.index(BEGIN_MARKER):text.index(END_MARKER)]
    assert "dkclip-tiny from pretrained weights `synthclip`" in block
    for heading, rows in (("Table 4", 4), ("Table 5", 4), ("Fig. 3: NRM threshold", 5), ("Fig. 3: number of", 4)):
        table = _table(block, heading)
        assert len(table) == rows, heading
        for row in table:
            _number(row[-4]), _number(row[-3])  # held-out UAR, WAR
    assert [r[0] for r in _table(block, "Table 4")] == ["baseline", "+HVE", "+ETP",
                                                        "+CCR (= table5/d, theta/0.15, snippets/4)"]
    verdicts = re.findall(r"\| \*\*([^*]+)\*\* \|", block)
    assert len(verdicts) == 3 + 3 + 4 + 3 + 2 and set(verdicts) <= VERDICTS  # claims: T4, T5, θ, N, NRM
    assert "### Missing cells\n\nNone" in block

    # A rerun skips every finished run and replaces the block instead of appending a second one.
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "aligned" / "results").iterdir()}
    counted_train.clear()
    assert cli_main(args) == 0
    assert counted_train == []
    assert {p.name: p.stat().st_mtime_ns for p in (out / "aligned" / "results").iterdir()} == stamps
    again = report.read_text()
    assert again.count(BEGIN_MARKER) == 1 and again.count(END_MARKER) == 1
    assert again.startswith("# Results\n\n## The other engineer's section")
