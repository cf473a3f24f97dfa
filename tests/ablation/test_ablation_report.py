"""The Markdown report: the committed study re-renders to the committed block and its claims recompute from the
stored predictions; each renderer on a study of fake runs (two presets, one cell missing); the block between
markers; the per-run CSV."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import pytest
from ablation_helpers import RESULTS_DOC, STUDY, FakeEvaluate, FakeTrainer, make_part

from dkclip.ablation import load_summary
from dkclip.ablation.grid import AblationSetting
from dkclip.ablation.heldout import TestSet
from dkclip.ablation.records import Stats
from dkclip.ablation.report import (
    BEGIN_MARKER,
    END_MARKER,
    pm,
    read_report_block,
    render_detection,
    render_growth,
    render_intro,
    render_missing,
    render_report,
    render_table,
    runs_csv,
    write_report_block,
)
from dkclip.ablation.runner import run_study
from dkclip.ablation.study import resummarize
from dkclip.ablation.summary import CONTRADICTS, IDENTICAL, MISSING, REPRODUCES, UNRESOLVED, StudySummary
from dkclip.engine.run_config import TrainConfig


def test_the_committed_study_re_renders_to_the_committed_block() -> None:
    committed = read_report_block(RESULTS_DOC)
    assert committed is not None
    assert render_report(load_summary(STUDY / "ablation.json")) == committed


def test_the_committed_claims_recompute_from_the_stored_predictions() -> None:
    summary = load_summary(STUDY / "ablation.json")
    assert resummarize(summary, STUDY) == summary
    assert runs_csv(summary) == (STUDY / "ablation_runs.csv").read_text()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> StudySummary:
    """Aligned (full grid) and wild (Tables 4-5) on fake runs, seeds 0 and 1, the wild +ETP seed 1 missing."""
    from ablation_helpers import write_list

    from dkclip.ablation.grid import build_base_config

    tmp = tmp_path_factory.mktemp("study")
    parts = []
    for preset in ("aligned", "wild"):
        root = tmp / preset
        root.mkdir()
        (root / "meta.json").write_text(json.dumps({"num_classes": 7, "seed": 0, "preset": preset,
                                                    "frames_per_clip": [16, 48], "counts": {"clips": 140}}))
        write_list(root / "set_1_test.txt", 4)
        held = write_list(tmp / f"held-{preset}" / "set_1_test.txt", 20)
        base: TrainConfig = build_base_config(root, 1, quick=True, overrides=[])
        sets = [TestSet("heldout", str(held.parent), str(held)),
                TestSet("fold", str(root), str(root / "set_1_test.txt"))]
        parts.append(make_part(base, sets, None if preset == "aligned" else ["table4", "table5"], preset))
    setting = AblationSetting("full", "synthetic_tiny", str(tmp / "aligned"), 1, [0, 1], [])
    run_study(parts, setting, tmp / "runs", tmp / "rec", None, FakeTrainer(), FakeEvaluate())
    wild_etp = parts[1].cells[("table4/+ETP", 1)]
    (tmp / "rec" / "wild" / "results" / f"{wild_etp}.json").unlink()
    for p in parts:
        p.cells.clear()
    return run_study(parts, setting, tmp / "runs", tmp / "rec", None, report_only=True)


def _rows(section: str, after: str = "") -> list[list[str]]:
    """The body rows of the first Markdown table in ``section`` (after the text ``after``)."""
    text = section.split(after, 1)[1] if after else section
    lines = text[text.index("|"):].split("\n\n", 1)[0].splitlines()
    return [[c.strip() for c in r.strip("|").split("|")] for r in lines[2:]]


def test_cells() -> None:
    assert pm(Stats(None, None, 0, [None])) == "-"
    assert pm(Stats(75.0, 0.0, 1, [75.0])) == "75.00"
    assert pm(Stats(78.571, 2.916, 3, [])) == "78.57 ± 2.92"


def test_intro_says_partial_and_how_to_read_a_cell(study: StudySummary) -> None:
    text = render_intro(study)
    assert "**partial: 45 of 46 trainings recorded**" in text
    assert "*mean over seeds [95% bootstrap interval over clips] ± std over seeds*" in text


def test_table4_cells_and_claims(study: StudySummary) -> None:
    aligned, wild = study.parts["aligned"], study.parts["wild"]
    text = render_table(aligned, "table4", 2)
    assert text.startswith("#### Table 4: components (baseline → +HVE → +ETP → +CCR)\n\n| step | temporal |")
    rows = _rows(text)
    assert rows[0][:6] == ["baseline", "avgpool", "`dfew_classnames`", "–", "–", "–"]
    assert rows[3][0] == "+CCR (= table5/d, theta/0.15, snippets/4)" and rows[3][-1] == "2/2"
    cell = aligned.cells["table4/+ETP"]
    assert cell.interval is not None and rows[2][6] == (f"{cell.uar.mean:.2f} [{cell.interval.uar.low:.1f}, "
                                                        f"{cell.interval.uar.high:.1f}] ± {cell.uar.std:.2f}")
    claims = _rows("| claim |" + text.split("\n\n| claim |", 1)[1])
    assert [c[0] for c in claims] == ["+HVE (hierarchical encoder) adds UAR over the baseline",
                                      "+ETP (AU prompts + CMAM) adds UAR over +HVE",
                                      "+CCR (NRM + consistency losses) adds UAR over +ETP"]
    assert claims[1][-1] == f"**{REPRODUCES}**"  # fake skill +0.25: resolved on 140 clips x 2 seeds
    assert all(c.verdict in (REPRODUCES, CONTRADICTS, UNRESOLVED, IDENTICAL) for c in aligned.claims.values())
    # Wild lacks +ETP seed 1: its cell shows one seed, its claims use the seed both cells have.
    assert wild.cells["table4/+ETP"].seeds_done == 1 and _rows(render_table(wild, "table4", 2))[2][-1] == "1/2"
    assert wild.claims["table4/+ETP>table4/+HVE"].seeds == [0]
    assert render_table(wild, "theta", 2) == ""


def test_detection_lists_normalisations_kinds_and_the_sweep(study: StudySummary) -> None:
    text = render_detection(study.parts["aligned"])
    rows = _rows(text)
    assert [r[0] for r in rows] == ["full model, test time: min-max (Eq. 9, the paper's)",
                                    "full model, test time: z-score",
                                    "full model, test time: none (softmax of scale·cos)",
                                    "trained with: z-score", "trained with: none (softmax of scale·cos)"]
    kinds = _rows(text, "Per noise kind")
    assert {r[1] for r in kinds} == {"expression", "occlusion", "blur", "dark"} and len(kinds) == 5 * 4
    full = study.parts["aligned"].cells["nrm-test/minmax"]
    assert rows[0][2] == pm(full.local_uar) and full.local_uar.n == 2
    assert "test-time zscore normalisation against" not in render_table(study.parts["aligned"], "nrm", 2)
    assert text.count("test-time zscore normalisation against") == 1
    sweep = _rows(text, "The θ and N sweep")
    assert sweep[0][0] == "theta/0" and sum(r[0].startswith("theta/0.15") for r in sweep) == 1
    assert not any(r[0].startswith("snippets/4") for r in sweep)  # the shared full model once
    assert render_detection(dataclasses.replace(study.parts["aligned"], cells={})) == ""


def test_growth_and_missing(study: StudySummary) -> None:
    rows = _rows(render_growth(study))
    assert [r[0] for r in rows] == ["temporal: +HVE over the baseline",
                                    "temporal: d (hierarchical) over a (average pooling)",
                                    "noise: +CCR (NRM + consistency) over +ETP"]
    assert all(r[-1].strip("*") in ("grows", "shrinks", UNRESOLVED, MISSING) for r in rows)
    text = render_missing(study)
    assert "1 (cell, seed) pairs have no recorded run yet" in text and "- wild: table4/+ETP seed 1" in text
    full = dataclasses.replace(study, parts={k: dataclasses.replace(p, missing=[]) for k, p in study.parts.items()})
    assert "None: every cell has all its seeds." in render_missing(full)


def test_the_block_and_the_csv(study: StudySummary) -> None:
    block = render_report(study)
    assert block.startswith(BEGIN_MARKER + "\n## Ablation study") and block.endswith("\n" + END_MARKER)
    assert block.index("### Aligned preset") < block.index("### Wild preset") < block.index("### Does the effect")
    rows = list(csv.DictReader(io.StringIO(runs_csv(study))))
    aligned = [r for r in rows if r["preset"] == "aligned"]
    assert len(aligned) == (19 + 3) * 2 and len(rows) == len(aligned) + (8 + 3) * 2 - 1
    assert float(rows[0]["heldout_global_uar"]) >= 0


def test_report_block_is_replaced_appended_or_refused(tmp_path: Path) -> None:
    path = tmp_path / "doc.md"
    write_report_block(path, f"{BEGIN_MARKER}\none\n{END_MARKER}")  # no file yet: created
    assert path.read_text() == f"{BEGIN_MARKER}\none\n{END_MARKER}\n"
    assert read_report_block(path) == f"{BEGIN_MARKER}\none\n{END_MARKER}"
    path.write_text(f"# Top\n\n{BEGIN_MARKER}\nold\n{END_MARKER}\n\n## After\n")
    write_report_block(path, f"{BEGIN_MARKER}\nnew\n{END_MARKER}")
    assert path.read_text() == f"# Top\n\n{BEGIN_MARKER}\nnew\n{END_MARKER}\n\n## After\n"
    path.write_text("# Top\n")
    assert read_report_block(path) is None
    write_report_block(path, f"{BEGIN_MARKER}\nx\n{END_MARKER}")
    assert path.read_text() == f"# Top\n\n{BEGIN_MARKER}\nx\n{END_MARKER}\n"
    path.write_text(f"# Top\n{BEGIN_MARKER}\n")
    with pytest.raises(ValueError, match="only one of the markers"):
        write_report_block(path, f"{BEGIN_MARKER}\nx\n{END_MARKER}")
