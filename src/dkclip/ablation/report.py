"""The Markdown report of a :class:`~dkclip.ablation.summary.StudySummary`: one renderer per part (the setting, Table
4, Table 5, θ, N, the claims, the NRM as a noise detector, the presets compared, the missing cells), the block
between the markers that ``--report`` replaces in a document, and the per-run CSV.

Every renderer returns its section's lines joined by newlines (``""`` when it has nothing to show);
:func:`render_report` joins the sections between the markers.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from ..constants import HEADS
from ..fileio import atomic_write_text
from ..tables import markdown_table, percent
from .grid import TABLES
from .records import DETECTION_MEASURES, Stats
from .summary import MISSING, Cell, Claim, PartSummary, StudySummary

BEGIN_MARKER = "<!-- ablate:begin -->"
END_MARKER = "<!-- ablate:end -->"
TABLE5_NAMES = {"a": "a: average pooling", "b": "b: frame transformer", "c": "c: cross-frame (X-CLIP MIT)",
                "d": "d: hierarchical (DK-CLIP)"}
NORM_NAMES = {"minmax": "min-max (Eq. 9, the paper's)", "zscore": "z-score", "none": "none (softmax of scale·cos)"}


# ------------------------------------------------------------------------------------------------- cells
def pm(stats: Stats) -> str:
    """``mean ± std`` (points, two decimals); the mean alone for one seed; ``-`` when undefined."""
    if stats.mean is None:
        return "-"
    if stats.n == 1:
        return f"{stats.mean:.2f}"
    return f"{stats.mean:.2f} ± {stats.std or 0.0:.2f}"


def score(cell: Cell, metric: str = "uar") -> str:
    """Held-out ``mean [95% CI] ± seed std`` (points); ``-`` when the cell has no run yet."""
    stats = cell.uar if metric == "uar" else cell.war
    if stats.mean is None:
        return "-"
    text = f"{stats.mean:.2f}"
    if cell.interval is not None:
        span = cell.interval.uar if metric == "uar" else cell.interval.war
        text += f" [{span.low:.1f}, {span.high:.1f}]"
    if stats.n > 1:
        text += f" ± {stats.std or 0.0:.2f}"
    return text


def _seeds(cell: Cell, total: int) -> str:
    return f"{cell.seeds_done}/{total}"


def _yes(flag: bool) -> str:
    return "✓" if flag else "–"


def _same_as(part: PartSummary, cell_id: str) -> str:
    aliases = part.aliases(cell_id)
    return f" (= {', '.join(aliases)})" if aliases else ""


# ------------------------------------------------------------------------------------------------- sections
def render_intro(summary: StudySummary) -> str:
    seeds = ", ".join(map(str, summary.seeds))
    overrides = ", ".join(f"`{o}`" for o in summary.overrides) or "none"
    parts = summary.parts
    done = sum(p.setting.recorded_runs for p in parts.values())
    total = sum(p.setting.distinct_runs for p in parts.values())
    compute = sum(p.setting.compute_s for p in parts.values())
    state = "complete" if done == total else f"**partial: {done} of {total} trainings recorded**, see Missing cells"
    lines = [
        "## Ablation study in miniature (`dkclip ablate`)",
        "",
        f"{summary.mode.capitalize()} mode, rendered {summary.date}; seeds {seeds}; overrides on every run: "
        f"{overrides}; {state}. The recorded runs took {compute / 60:.1f} min of training and evaluation "
        f"({summary.machine}).",
        "",
        "Each run fine-tunes dkclip-tiny from the shipped CLIP on the preset's training data and is then evaluated "
        "on the preset's **held-out test set** (identities never seen in pretraining or fine-tuning). Cells show "
        "held-out UAR / WAR (%) of the **global head** (as the paper reports) as *mean over seeds [95% bootstrap "
        "interval over clips] ± std over seeds*; claims are decided on paired comparisons of the same clips "
        "(the seeds-pooled interval of the UAR difference: *reproduces* above 0, *contradicts* below, *not "
        "resolved* across 0; *identical* when no clip is right in one cell and wrong in the other). Method: "
        "`src/dkclip/ablation/paired.py`, `study.py`. Per-run records and per-clip "
        "predictions: `docs/ablation/<preset>/`.",
        "",
    ]
    return "\n".join(lines)


def render_setting(part: PartSummary) -> str:
    s = part.setting
    ds, ho = s.dataset, s.heldout
    data = f"`{s.data_root}`"
    if ds is not None:
        data += (f" ({ds.clips} clips of {ds.frames_per_clip} frames, {ds.preset} preset, seed {ds.seed}; "
                 f"fold {s.fold}'s training list, its test split of {ds.clips // 5 if ds.clips else '?'} clips is "
                 "the *fold* column)")
    held = f"`{s.heldout_root}`"
    if ho is not None:
        held += (f": {s.heldout_clips} clips" + (f" of {ho.clips}" if ho.clips != s.heldout_clips else "")
                 + f", {ho.preset} preset, seed {ho.seed}, {ho.clips_with_quarter_noisy} of {ho.clips} clips with at "
                 "least a quarter of their frames noisy")
    weights = f"pretrained weights `{s.pretrained}`" if s.pretrained else "a randomly initialised CLIP"
    one_clip = 100.0 / s.heldout_clips if s.heldout_clips else 0.0
    return "\n".join([
        f"### {s.preset.capitalize()} preset",
        "",
        f"Training: {s.model} from {weights}, `{s.base_config}` recipe, {s.epochs} "
        f"epoch{'s' if s.epochs != 1 else ''}, selection: "
        f"{s.selection_note or s.selection}; data {data}. Held-out test set {held} (`{s.heldout_command}`; one "
        f"clip is {one_clip:.2f} points of WAR). {s.recorded_runs} of {s.distinct_runs} distinct trainings "
        f"recorded ({s.compute_s / 60:.1f} min)"
        + (f"; evaluating one run on the held-out set took {s.heldout_eval_s:.0f} s (median, on the shared CPU)."
           if s.heldout_eval_s is not None else "."),
        "",
    ])


def _table_cells(part: PartSummary, table: str, total: int, knob_cols: bool) -> str:
    cells = part.cells_of(table)
    body = []
    for c in cells:
        label = TABLE5_NAMES.get(c.name, c.name) if table == "table5" else c.name
        row: list[object] = [f"{label}{_same_as(part, c.id)}"]
        if knob_cols:
            o = c.options
            row += [o.temporal, f"`{c.prompts}`", _yes(o.use_cmam), _yes(o.use_nrm), _yes(o.use_consistency)]
        else:
            row.append("-" if c.train_frames is None else c.train_frames)
        row += [score(c, "uar"), score(c, "war"), pm(c.fold_uar), _seeds(c, total)]
        body.append(row)
    head = ["step", "temporal", "prompts", "CMAM", "NRM", "consistency"] if knob_cols else \
        [{"table5": "temporal model", "theta": "θ", "snippets": "N", "nrm": "NRM normalisation"}[table],
         "train frames"]
    fold_clips = next((r.num_test_clips for r in part.runs.values() if r.num_test_clips), None)
    fold = f"fold UAR ({fold_clips} clips)" if fold_clips else "fold UAR"
    return markdown_table([*head, "held-out UAR", "held-out WAR", fold, "seeds"], body)


def render_claims(part: PartSummary, table: str) -> str:
    claims = [c for c in part.claims.values() if c.table == table]
    if not claims:
        return ""
    body = []
    for c in claims:
        if c.pooled is None:
            body.append([c.text, "-", "-", "-", f"**{c.verdict}**"])
            continue
        d = c.pooled.uar_diff
        per_seed = ", ".join(f"{t.uar_diff.estimate:+.1f}" for t in c.per_seed)
        mc = f"{c.pooled.only_b} / {c.pooled.only_a}, p = {_p(c.pooled.mcnemar_p)}"
        body.append([c.text, f"{d.estimate:+.2f} [{d.low:+.2f}, {d.high:+.2f}]", per_seed, mc, f"**{c.verdict}**"])
    return markdown_table(["claim", "ΔUAR, seeds pooled [95% CI]", "ΔUAR per seed", "McNemar: only B / only A right",
                           "verdict"], body)


def _p(p: float) -> str:
    return f"{p:.2g}" if p >= 1e-4 else "< 1e-4"


def render_table(part: PartSummary, table: str, total: int) -> str:
    if not part.cells_of(table):
        return ""
    notes = {
        "table5": "b and c embed each frame's position, so they train on the test T and see more frames per "
                  "training clip than a and d.",
        "theta": "Eq. 9 min-max scales the similarities to [0, 1] before the softmax, so every snippet gets "
                 "a* ≥ 1/(1+(N−1)e): 0.269 for N = 2, 0.109 for N = 4, 0.050 for N = 8. With N = 4, θ = 0 and "
                 "θ = 0.1 erase nothing.",
        "snippets": "At θ = 0.15 the NRM never erases with N ≤ 2 (a* ≥ 0.269 there), so N = 1 and 2 measure the "
                    "snippet layout without noise reduction.",
        "nrm": "The full model trained with another per-clip normalisation of the NRM's similarities (model option "
               "`nrm_norm`); compared with the same model evaluated with each normalisation at test time below.",
    }
    lines = [f"#### {TABLES[table]}", "", _table_cells(part, table, total, table == "table4")]
    if table in notes:
        lines += ["", notes[table]]
    claims = render_claims(part, table) if table != "nrm" else ""  # the NRM variants' claims: with the detection
    if claims:
        lines += ["", claims]
    return "\n".join(lines) + "\n"


def _detection_row(label: str, c: Cell) -> list[object]:
    d = c.detection
    auc = "-" if c.auc is None else pm(c.auc)
    if d is None:
        return [label, score(c, "uar"), pm(c.local_uar), "-", "-", "-", "-", "-", auc]
    return [label, score(c, "uar"), pm(c.local_uar), pm(d.precision), pm(d.recall), pm(d.base_rate),
            pm(d.erase_rate_noisy_clips), pm(d.erase_rate_clean_clips), auc]


def render_detection(part: PartSummary) -> str:
    """The NRM's normalisations on the full model, per noise kind, and the θ/N sweep."""
    variants = part.cells_of("nrm-test") + part.cells_of("nrm")
    if not variants:
        return ""
    head = ["model", "held-out UAR", "local-head UAR", "precision", "recall", "noisy-snippet base rate",
            "erased in noisy clips", "erased in clean clips", "ROC-AUC of 1 − a* (×100)"]
    body = []
    for c in variants:
        how = "full model, test time" if c.table == "nrm-test" else "trained with"
        body.append(_detection_row(f"{how}: {NORM_NAMES.get(c.name, c.name)}", c))
    lines = [
        "#### The NRM as a noise detector (issue 13 §2)",
        "",
        "Held-out set, full model (θ = 0.15, N = 4). A snippet is noisy when most of its sampled frames carry the "
        "generator's noise flag. Precision, recall and the base rate over the snippets of noisy clips (as the first "
        "study); the erase rates; and the threshold-free ROC-AUC of 1 − a* as a noise score over all snippets "
        "(50 = chance). Test time: the min-max-trained full model with another normalisation only when "
        "evaluating; trained: the `nrm` cells above.",
        "",
        markdown_table(head, body),
    ]
    kinds_head = ["model", "noise kind", "snippets", "erased (= recall)", "precision vs clean", "base rate",
                  "ROC-AUC ×100"]
    kind_rows = []
    for c in variants:
        for k in c.kinds.values():
            kind_rows.append([f"{'test' if c.table == 'nrm-test' else 'trained'}: {c.name}", k.kind, k.snippets,
                              pm(k.erase_rate), pm(k.precision), pm(k.base_rate), pm(k.auc)])
    if kind_rows:
        lines += ["", "Per noise kind, each kind against the clean snippets of all clips (precision = erased of "
                      "the kind / (erased of the kind + erased clean); base rate = the kind's share of the two):",
                  "", markdown_table(kinds_head, kind_rows)]
    nrm_claims = render_claims(part, "nrm")
    if nrm_claims:
        lines += ["", "Global-head UAR of each variant against the min-max full model on the same clips (the NRM "
                      "reaches the global head only through the CMAM's visual tokens):", "", nrm_claims]
    sweep, seen = [], set()
    for c in part.cells.values():  # every NRM run of the sweep, a shared one once
        if c.table in ("theta", "snippets") and c.detection is not None and tuple(c.keys) not in seen:
            seen.add(tuple(c.keys))
            sweep.append(c)
    if sweep:
        body = [[f"{c.id}{_same_as(part, c.id)}", f"{c.options.nrm_theta:g}", c.options.num_snippets,
                 *_detection_row("", c)[3:]] for c in sweep]
        lines += ["", "The θ and N sweep (min-max):", "",
                  markdown_table(["run", "θ", "N", *head[3:]], body)]
    return "\n".join(lines) + "\n"


def render_part(part: PartSummary, total: int) -> str:
    sections = [render_setting(part)]
    sections += [render_table(part, t, total) for t in ("table4", "table5", "theta", "snippets", "nrm")]
    sections.append(render_detection(part))
    return "\n".join(s for s in sections if s)


def render_growth(summary: StudySummary) -> str:
    if not summary.growth:
        return ""
    body = []
    for g in summary.growth:
        def f(s: object) -> str:
            from .paired import Span

            return "-" if not isinstance(s, Span) else f"{s.estimate:+.2f} [{s.low:+.2f}, {s.high:+.2f}]"

        body.append([g.text, f(g.aligned), f(g.wild), f(g.difference), f"**{g.verdict}**"])
    return "\n".join([
        "### Does the effect grow in the wild?", "",
        "ΔUAR of each mechanism (seeds pooled, 95% CI) on each preset's own held-out set, and wild − aligned "
        "(interval from independent bootstraps of the two presets' clips):", "",
        markdown_table(["effect", "aligned", "wild", "wild − aligned", "verdict"], body), ""])


def render_missing(summary: StudySummary) -> str:
    lines = ["### Missing cells", ""]
    missing = [(p, m) for p, part in summary.parts.items() for m in part.missing]
    missing_claims = [(p, c) for p, part in summary.parts.items() for c in part.claims.values()
                      if c.verdict == MISSING]
    if not missing and not missing_claims:
        lines.append("None: every cell has all its seeds.")
    else:
        lines.append(f"{len(missing)} (cell, seed) pairs have no recorded run yet; the study is still running or "
                     "was stopped (resume with the same `dkclip ablate` command):")
        lines.append("")
        by_part: dict[str, list[str]] = {}
        for p, m in missing:
            by_part.setdefault(p, []).append(m)
        lines += [f"- {p}: {', '.join(ms)}" for p, ms in by_part.items()]
    return "\n".join(lines)


def render_report(summary: StudySummary) -> str:
    """The whole block, markers included."""
    total = len(summary.seeds)
    parts = [render_intro(summary)]
    parts += [render_part(p, total) for p in summary.parts.values()]
    parts += [render_growth(summary), render_missing(summary)]
    return "\n".join([BEGIN_MARKER, *[p.rstrip("\n") + "\n" for p in parts if p], END_MARKER])


def claim_verdicts(summary: StudySummary) -> dict[str, dict[str, str]]:
    """preset → claim id → verdict (for tests and scripts)."""
    return {p: {k: c.verdict for k, c in part.claims.items()} for p, part in summary.parts.items()}


def claims_of(part: PartSummary, table: str) -> list[Claim]:
    return [c for c in part.claims.values() if c.table == table]


# ------------------------------------------------------------------------------------------------- files
def runs_csv(summary: StudySummary) -> str:
    """One row per (preset, cell, seed) with a recorded run: held-out and fold UAR/WAR of every head, the held-out
    noise-detection measures and ROC-AUC (percent)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["preset", "cell", "evaluation", "seed", "key", "train_frames", "eval_frames",
                     *[f"heldout_{h}_{m}" for h in HEADS for m in ("uar", "war")],
                     *[f"fold_{h}_{m}" for h in HEADS for m in ("uar", "war")], *DETECTION_MEASURES, "noise_auc",
                     "wall_s"])
    for preset, part in summary.parts.items():
        for cell_id, cell in part.cells.items():
            for seed, key in zip(summary.seeds, cell.keys, strict=True):
                if key is None:
                    continue
                rec = part.runs[key]
                ev = rec.evaluations[cell.evaluation]
                det = ev.detection
                measures = [None if det is None else det.measure(m) for m in DETECTION_MEASURES]
                held = [getattr(ev.heads[h], m) for h in HEADS for m in ("uar", "war")]
                fold = [getattr(rec.heads[h], m) for h in HEADS for m in ("uar", "war")]
                writer.writerow([preset, cell_id, cell.evaluation, seed, key, rec.train_frames, rec.eval_frames,
                                 *[percent(v, 4) for v in held], *[percent(v, 4) for v in fold],
                                 *["" if v is None else percent(v, 4) for v in measures],
                                 "" if ev.auc is None else percent(ev.auc, 4), f"{rec.wall_s:.1f}"])
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
