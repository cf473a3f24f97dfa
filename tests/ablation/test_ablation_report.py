"""The Markdown report: the committed study re-renders to the committed block, each renderer on its own, the
block between markers, and the per-run CSV."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ablation_helpers import RESULTS_DOC, STUDY

from dkclip.ablation import load_summary
from dkclip.ablation.records import Check, Stats, Summary
from dkclip.ablation.report import (
    BEGIN_MARKER,
    END_MARKER,
    check_lines,
    pm,
    read_report_block,
    render_claims,
    render_detection,
    render_report,
    render_setting,
    render_snippets,
    render_table4,
    render_table5,
    render_theta,
    runs_csv,
    write_report_block,
)


@pytest.fixture(scope="module")
def study() -> Summary:
    return load_summary(STUDY / "ablation.json")


def _only(summary: Summary, *tables: str) -> Summary:
    rows = {k: r for k, r in summary.rows.items() if r.table in tables}
    return dataclasses.replace(summary, rows=rows)


def test_the_committed_study_re_renders_to_the_committed_block(study: Summary) -> None:
    committed = read_report_block(RESULTS_DOC)
    assert committed is not None
    assert render_report(study) == committed


def test_the_committed_csv_re_renders(study: Summary) -> None:
    assert runs_csv(study) == (STUDY / "ablation_runs.csv").read_text()


def test_cells() -> None:
    assert pm(Stats(None, None, 0, [None])) == "-"
    assert pm(Stats(75.0, 0.0, 1, [75.0])) == "75.00"
    assert pm(Stats(78.571, 2.916, 3, [])) == "78.57 ± 2.92"


def test_setting_states_the_weights_data_and_spread(study: Summary) -> None:
    text = render_setting(study)
    assert "dkclip-tiny fine-tuned from CLIP weights `default` with the `synthetic_tiny` recipe" in text
    assert "(140 clips of [16, 48] frames, 7 classes, aligned preset, seed 0; 84 of 140 clips" in text
    assert "mean ± std (population) over seeds. One test clip is worth 3.6 points" in text
    s = dataclasses.replace(study.setting, pretrained="synthclip", clip_weights=None, seeds=[0], dataset=None,
                            fold=None, overrides=["schedule.epochs=2"], epochs=1)
    text = render_setting(dataclasses.replace(study, setting=s))
    assert "fine-tuned from pretrained weights `synthclip` with" in text
    assert "on `data/synth`; 1 epoch, selection:" in text
    assert "one seed, so no spread." in text and "overrides on every run: `schedule.epochs=2`." in text
    s = dataclasses.replace(s, pretrained=None)
    assert "fine-tuned from a randomly initialised CLIP with" in render_setting(dataclasses.replace(study, setting=s))


def _table(section: str) -> list[list[str]]:
    rows = [line for line in section.splitlines() if line.startswith("|")]
    return [[c.strip() for c in r.strip("|").split("|")] for r in rows[2:]]


def test_table4(study: Summary) -> None:
    text = render_table4(study)
    assert text.startswith("### Table 4: components (baseline → +HVE → +ETP → +CCR)\n\n| step | temporal |")
    assert _table(text)[0] == ["baseline", "avgpool", "`dfew_classnames`", "–", "–", "–", "35.71 ± 10.10",
                               "35.71 ± 10.10"]
    assert _table(text)[3][0] == "+CCR (= table5/d, theta/0.15, snippets/4)"
    assert text.endswith("\n\nDirection check, each component adds UAR (baseline ≤ +HVE ≤ +ETP ≤ +CCR): "
                         "**reproduces** (baseline 35.71 ≤ +HVE 35.71 ≤ +ETP 76.19 ≤ +CCR 78.57).\n")
    assert render_table4(_only(study, "table5")) == ""


def test_table5(study: Summary) -> None:
    text = render_table5(study)
    assert [r[:2] for r in _table(text)] == [["a: average pooling", "4"], ["b: frame transformer", "16"],
                                             ["c: cross-frame (X-CLIP MIT)", "16"],
                                             ["d: hierarchical (DK-CLIP) (= table4/+CCR, theta/0.15, snippets/4)",
                                              "4"]]
    assert "b and c embed each frame's position" in text
    # Without table 4 and the others, d has no aliases; without its check the line says so.
    alone = dataclasses.replace(_only(study, "table5"), checks={})
    text = render_table5(alone)
    assert _table(text)[3][0] == "d: hierarchical (DK-CLIP)"
    assert "Direction check: not checked (cells missing)." in text


def test_theta(study: Summary) -> None:
    rows = _table(render_theta(study))
    assert [r[0] for r in rows] == ["0", "0.1", "0.15 (= table4/+CCR, table5/d, snippets/4)", "0.2", "0.25"]
    assert rows[2][3] == "25.00 ± 0.00 / 24.31 ± 0.98 %"
    no_detection = {k: dataclasses.replace(r, detection=None) for k, r in study.rows.items()}
    assert _table(render_theta(dataclasses.replace(study, rows=no_detection)))[0][3] == "-"


def test_snippets(study: Summary) -> None:
    text = render_snippets(study)
    assert text.startswith("### Fig. 3: number of snippets N (T = 16 test frames)")
    assert [r[:2] for r in _table(text)] == [["1", "4"], ["2", "4"], ["4 (= table4/+CCR, table5/d, theta/0.15)", "4"],
                                             ["8", "8"]]


def test_detection_lists_each_shared_run_once(study: Summary) -> None:
    text = render_detection(study)
    rows = _table(text)
    assert len(rows) == 10 and rows[0][0] == "table4/+CCR (= table5/d, theta/0.15, snippets/4)"
    assert rows[4][:4] == ["theta/0", "0", "4", "-"]  # θ = 0 erases nothing: precision undefined
    assert text.count("Direction check, the NRM") == 2
    no_detection = {k: dataclasses.replace(r, detection=None) for k, r in study.rows.items()}
    assert render_detection(dataclasses.replace(study, rows=no_detection)) == ""


def test_claims_list_failures_and_warn_near_chance(study: Summary) -> None:
    assert render_claims(study).endswith("Every checked direction reproduces (on mean UAR).")
    failed = {**study.checks, "theta": Check("θ = 0.15 is the best threshold", "does not reproduce", "best is θ=0")}
    text = render_claims(dataclasses.replace(study, checks=failed))
    assert "- θ = 0.15 is the best threshold: **does not reproduce** (best is θ=0)." in text
    assert "chance" not in text
    near_chance = {k: dataclasses.replace(r, uar=Stats(20.0, 0.0, 3, [])) for k, r in study.rows.items()}
    text = render_claims(dataclasses.replace(study, rows=near_chance))
    assert "Every run is within two test clips of chance (14.3% UAR)" in text


def test_the_block_is_the_sections_between_markers(study: Summary) -> None:
    block = render_report(_only(study, "theta"))
    assert block.startswith(BEGIN_MARKER + "\n## Ablation study") and block.endswith("\n" + END_MARKER)
    assert "### Table 4" not in block and "### Fig. 3: NRM threshold θ" in block
    assert check_lines(study, "nope") == ["", "Direction check: not checked (cells missing).", ""]


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
