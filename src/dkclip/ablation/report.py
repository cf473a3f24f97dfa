"""The Markdown report of a :class:`~dkclip.ablation.records.Summary`: one renderer per part (the setting, Table
4, Table 5, θ, snippets, the NRM as a noise detector, the claims that fail), the block between the markers that
``--report`` replaces in a document, and the per-run CSV.

Every renderer returns its section's lines joined by newlines (``""`` when the summary has none of its cells);
:func:`render_report` joins the sections with newlines between the markers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..fileio import atomic_write_text
from ..tables import markdown_table, percent
from .checks import failures
from .grid import TABLES
from .records import DETECTION_MEASURES, HEADS, DetectionStats, Row, Stats, Summary

BEGIN_MARKER = "<!-- ablate:begin -->"
END_MARKER = "<!-- ablate:end -->"
TABLE5_NAMES = {"a": "a: average pooling", "b": "b: frame transformer", "c": "c: cross-frame (X-CLIP MIT)",
                "d": "d: hierarchical (DK-CLIP)"}


# ------------------------------------------------------------------------------------------------- cells
def pm(stats: Stats) -> str:
    """``mean ± std`` (points, two decimals); the mean alone for one seed; ``-`` when undefined."""
    if stats.mean is None:
        return "-"
    if stats.n == 1:
        return f"{stats.mean:.2f}"
    return f"{stats.mean:.2f} ± {stats.std or 0.0:.2f}"


def _yes(flag: bool) -> str:
    return "✓" if flag else "–"


def _same_as(summary: Summary, exp_id: str) -> str:
    aliases = summary.aliases(exp_id)
    return f" (= {', '.join(aliases)})" if aliases else ""


def check_lines(summary: Summary, name: str) -> list[str]:
    """The direction-check paragraph of check ``name``, with a blank line either side."""
    c = summary.checks.get(name)
    if c is None:
        return ["", "Direction check: not checked (cells missing).", ""]
    return ["", f"Direction check, {c.claim}: **{c.verdict}** ({c.detail}).", ""]


# ------------------------------------------------------------------------------------------------- sections
def render_setting(summary: Summary) -> str:
    """The title and the two paragraphs on the setting: data, recipe, seeds, what a test clip is worth, cost."""
    s = summary.setting
    ds = s.dataset
    data_desc = f"`{s.data_root}`"
    if ds is not None:
        data_desc += (f" ({ds.clips} clips of {ds.frames_per_clip} frames, {ds.num_classes} classes, {ds.preset} "
                      f"preset, seed {ds.seed}; {ds.clips_with_quarter_noisy} of {ds.clips} clips have at least a "
                      "quarter of their frames noisy)")
    if s.pretrained:
        weights = f"pretrained weights `{s.pretrained}`"
    elif s.clip_weights:
        weights = f"CLIP weights `{s.clip_weights}`"  # records before the restructure: `default` (the shipped CLIP)
    else:
        weights = "a randomly initialised CLIP"
    fold = f", fold {s.fold} held out" if s.fold is not None else ""
    overrides = ", ".join(f"`{o}`" for o in s.overrides) or "none"
    lines = [
        "## Ablation study in miniature (`dkclip ablate`)",
        "",
        f"Setting ({s.mode} mode, {s.date}): {s.model} fine-tuned from {weights} with the `{s.base_config}` recipe "
        f"on {data_desc}{fold}; {s.epochs} epoch{'s' if s.epochs != 1 else ''}, selection: {s.selection_note}; "
        f"{s.num_test_clips} test clips; seeds {', '.join(map(str, s.seeds))}; overrides on every run: "
        f"{overrides}.",
        "",
        f"Numbers are test UAR / WAR (%) of the **{s.reported_head} head** (as the paper reports), "
        + ("mean ± std (population) over seeds. " if len(s.seeds) > 1 else "one seed, so no spread. ")
        + f"One test clip is worth {s.tolerance_points:.1f} points, so smaller differences are noise. "
        f"{s.distinct_runs} distinct trainings filled {s.table_cells} table cells (shared configurations run "
        f"once per seed); the runs took {s.compute_s / 60:.1f} min of training and measuring in all "
        f"(this invocation {s.wall_s / 60:.1f} min, {s.machine}).",
        "",
    ]
    return "\n".join(lines)


def render_table4(summary: Summary) -> str:
    rows = summary.rows_of("table4")
    if not rows:
        return ""
    body = [[f"{r.name}{_same_as(summary, r.id)}", r.options.temporal, f"`{r.prompts}`", _yes(r.options.use_cmam),
             _yes(r.options.use_nrm), _yes(r.options.use_consistency), pm(r.uar), pm(r.war)] for r in rows]
    table = markdown_table(["step", "temporal", "prompts", "CMAM", "NRM", "consistency", "UAR", "WAR"], body)
    return "\n".join([f"### {TABLES['table4']}", "", table, *check_lines(summary, "table4")])


def render_table5(summary: Summary) -> str:
    rows = summary.rows_of("table5")
    if not rows:
        return ""
    body = [[f"{TABLE5_NAMES.get(r.name, r.name)}{_same_as(summary, r.id)}", r.train_frames, pm(r.uar), pm(r.war)]
            for r in rows]
    table = markdown_table(["temporal model", "train frames", "UAR", "WAR"], body)
    note = ("b and c embed each frame's position, so they train on the test T and see more frames per training "
            "clip than a and d.")
    return "\n".join([f"### {TABLES['table5']}", "", table, "", note, *check_lines(summary, "table5")])


def _erased(d: DetectionStats | None) -> str:
    return f"{pm(d.erase_rate_noisy_clips)} / {pm(d.erase_rate_clean_clips)} %" if d is not None else "-"


def render_theta(summary: Summary) -> str:
    rows = summary.rows_of("theta")
    if not rows:
        return ""
    body = [[f"{r.name}{_same_as(summary, r.id)}", pm(r.uar), pm(r.war), _erased(r.detection)] for r in rows]
    table = markdown_table(["θ", "UAR", "WAR", "snippets erased, noisy / clean test clips"], body)
    note = ("Eq. 9 min-max scales the similarities to [0, 1] before the softmax, so every snippet gets "
            "a* ≥ 1/(1+(N−1)e): 0.269 for N = 2, 0.109 for N = 4, 0.050 for N = 8. With N = 4, θ = 0 and "
            "θ = 0.1 erase nothing and train the same model (so would the authors' code, which normalises this "
            "way; the paper does not state the normalisation).")
    return "\n".join([f"### {TABLES['theta']}", "", table, "", note, *check_lines(summary, "theta")])


def render_snippets(summary: Summary) -> str:
    rows = summary.rows_of("snippets")
    if not rows:
        return ""
    body = [[f"{r.name}{_same_as(summary, r.id)}", r.train_frames, pm(r.uar), pm(r.war)] for r in rows]
    table = markdown_table(["N", "train frames", "UAR", "WAR"], body)
    note = ("At θ = 0.15 the NRM never erases with N ≤ 2 (a* ≥ 0.269 there), so N = 1 and 2 measure the snippet "
            "layout without noise reduction.")
    heading = f"### {TABLES['snippets']} (T = {rows[0].eval_frames} test frames)"
    return "\n".join([heading, "", table, "", note, *check_lines(summary, "snippets")])


def render_detection(summary: Summary) -> str:
    """Every NRM run with N > 1 (a shared configuration once), and the two NRM checks."""
    rows: list[Row] = []
    seen: set[tuple[str, ...]] = set()
    for r in summary.rows.values():
        if r.detection is not None and tuple(r.keys) not in seen:
            seen.add(tuple(r.keys))
            rows.append(r)
    if not rows:
        return ""
    body = []
    for r in rows:
        d = r.detection
        assert d is not None
        body.append([f"{r.id}{_same_as(summary, r.id)}", f"{r.options.nrm_theta:g}", r.options.num_snippets,
                     pm(d.precision), pm(d.recall), pm(d.base_rate), pm(d.erase_rate_noisy_clips),
                     pm(d.erase_rate_clean_clips)])
    table = markdown_table(["run", "θ", "N", "precision", "recall", "noisy-snippet base rate",
                            "erased in noisy clips", "erased in clean clips"], body)
    intro = ("Test split, every run with the NRM and N > 1 (a snippet is noisy when most of its sampled frames carry "
             "the generator's noise flag; percentages):")
    return "\n".join(["### The NRM as a noise detector", "", intro, "", table,
                      *check_lines(summary, "nrm"), *check_lines(summary, "nrm_clean")])


def render_claims(summary: Summary) -> str:
    """Where the paper does not reproduce, and a warning when every run is within two test clips of chance."""
    s = summary.setting
    lines = ["### Where the paper does not reproduce here", ""]
    failed = failures(summary.checks)
    if failed:
        lines += [f"- {c.claim}: **{c.verdict}** ({c.detail})." for c in failed]
    else:
        lines.append("Every checked direction reproduces (on mean UAR).")
    chance = 100.0 / s.dataset.num_classes if s.dataset is not None and s.dataset.num_classes else None
    means = [r.uar.mean for r in summary.rows.values() if r.uar.mean is not None]
    if chance is not None and means and max(means) <= chance + 2 * s.tolerance_points:
        lines += ["", f"Every run is within two test clips of chance ({chance:.1f}% UAR): the fine-tuning does not "
                  "learn the task in this setting, so none of the orderings above carries information."]
    return "\n".join(lines)


SECTIONS = (render_setting, render_table4, render_table5, render_theta, render_snippets, render_detection,
            render_claims)


def render_report(summary: Summary) -> str:
    """The whole block, markers included."""
    parts = [section(summary) for section in SECTIONS]
    return "\n".join([BEGIN_MARKER, *[p for p in parts if p], END_MARKER])


# ------------------------------------------------------------------------------------------------- files
def runs_csv(summary: Summary) -> str:
    """One row per (experiment, seed): every head's UAR/WAR and the noise-detection measures (percent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["experiment", "seed", "key", "train_frames", "eval_frames",
                     *[f"{h}_{m}" for h in HEADS for m in ("uar", "war")], *DETECTION_MEASURES, "wall_s"])
    for exp_id, row in summary.rows.items():
        for seed, key in zip(summary.setting.seeds, row.keys, strict=True):
            rec = summary.runs[key]
            det = rec.noise_detection
            measures = [None if det is None else det.measure(m) for m in DETECTION_MEASURES]
            scores = [getattr(rec.heads[h], m) for h in HEADS for m in ("uar", "war")]
            writer.writerow([exp_id, seed, key, rec.train_frames, rec.eval_frames, *[percent(v, 4) for v in scores],
                             *["" if v is None else percent(v, 4) for v in measures], f"{rec.wall_s:.1f}"])
    return buffer.getvalue()


def read_report_block(path: Path) -> str | None:
    """The block between the markers in ``path``, markers included; None when it has none."""
    text = path.read_text()
    begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if begin < 0 or end < begin:
        return None
    return text[begin:end + len(END_MARKER)]


def write_report_block(path: Path, block: str) -> None:
    """Replace the text between the ablate markers in ``path`` (append it when absent); atomic."""
    text = path.read_text() if path.is_file() else ""
    begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if begin >= 0 and end > begin:
        text = text[:begin] + block + text[end + len(END_MARKER):]
    elif begin >= 0 or end >= 0:
        raise ValueError(f"{path} has only one of the markers {BEGIN_MARKER} / {END_MARKER}; fix the file by hand")
    else:
        text = text.rstrip("\n") + ("\n\n" if text.strip() else "") + block + "\n"
    atomic_write_text(path, text)
