"""``dkclip ablate [--quick]``: the paper's ablations (Tables 4-5, Fig. 3) and the NRM as a noise detector, on the
synthetic dataset, each run evaluated on a large held-out test set with stored per-clip predictions, the claims
decided by paired tests; resumable; the Markdown goes between markers in ``--report``. See
:mod:`dkclip.ablation` for the grid and the choices made."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..ablation.grid import PRESETS, QUICK_ESTIMATE

    p = sub.add_parser("ablate", help="the ablation study in miniature on the synthetic dataset (resumable)",
                       description="Fine-tune the Table 4 / Table 5 / Fig. 3 variants from the shipped weights with "
                                   "the synthetic_tiny recipe, over seeds and presets; evaluate each on a held-out "
                                   "set of 700 clips (stored per clip); write the cells with intervals, the claims "
                                   "with paired tests, and the NRM's noise detection. Rerun to resume.")
    p.add_argument("--quick", action="store_true",
                   help=f"one seed, 8 epochs, aligned preset, 140 held-out clips ({QUICK_ESTIMATE})")
    p.add_argument("--out-dir", default="runs/ablate",
                   help="run directories with the kept weights (default runs/ablate)")
    p.add_argument("--records-dir", default=None,
                   help="per-run records, per-clip predictions, ablation.json, report.md (default: --out-dir; the "
                        "committed study: docs/ablation)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2 (--quick: 0)")
    p.add_argument("--presets", nargs="+", choices=PRESETS, default=None,
                   help="default: aligned wild (--quick: aligned)")
    p.add_argument("--data", default="data/synth",
                   help="aligned training data; generated with the demo's settings when absent (default data/synth)")
    p.add_argument("--heldout", default="data/synth-heldout",
                   help="aligned held-out test set; generated when absent (default data/synth-heldout)")
    p.add_argument("--wild-data", default="data/synth-wild", help="wild training data (default data/synth-wild)")
    p.add_argument("--wild-heldout", default="data/synth-heldout-wild",
                   help="wild held-out test set (default data/synth-heldout-wild)")
    p.add_argument("--fold", type=int, default=1, help="fold of the training data held out as 'fold' (default 1)")
    p.add_argument("--report", default="docs/results-synthetic.md",
                   help="Markdown file whose ablate block is replaced (default docs/results-synthetic.md); "
                        "'-' writes none")
    p.add_argument("--report-only", action="store_true",
                   help="train and evaluate nothing: summarise the recorded runs (missing cells are listed)")
    p.add_argument("--au-evidence", action="store_true",
                   help="train nothing: measure the action-unit evidence (dkclip.model.au_evidence) on the aligned "
                        "held-out set for the shipped CLIP and the recorded full model of the first seed; writes "
                        "<records-dir>/au_evidence.json and the au-evidence block of --report")
    p.add_argument("--config", default="synthetic_tiny", help="base recipe (default synthetic_tiny)")
    p.add_argument("--experiments", nargs="+", default=None, metavar="NAME",
                   help="run only these: ids (table4/+HVE), tables (theta) or globs (table5/*)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every run on top of the base recipe, e.g. --set schedule.epochs=2")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ablation.grid import (
        FULL_SEEDS,
        QUICK_SEEDS,
        AblationSetting,
        build_base_config,
        build_grid,
        phase_plan,
        select_experiments,
    )
    from ..ablation.heldout import (
        QUICK_HELDOUT_PER_CLASS,
        TestSet,
        ensure_synth,
        heldout_spec,
        per_class_subset,
        training_spec,
    )
    from ..ablation.runner import run_study
    from ..ablation.study import StudyPart

    presets = list(args.presets or (["aligned"] if args.quick else ["aligned", "wild"]))
    chosen = select_experiments(build_grid(), args.experiments)
    plan = phase_plan(presets, chosen, args.quick)
    out_dir = Path(args.out_dir)
    seeds = list(args.seeds) if args.seeds else list(QUICK_SEEDS if args.quick else FULL_SEEDS)
    parts: dict[str, StudyPart] = {}
    for preset, exps in plan:
        if preset not in parts:
            train_root = Path(args.data if preset == "aligned" else args.wild_data)
            held_root = Path(args.heldout if preset == "aligned" else args.wild_heldout)
            ensure_synth(training_spec(train_root, preset))
            spec = heldout_spec(held_root, preset)
            standard = ensure_synth(spec)
            held_list = held_root / "set_1_test.txt"
            if args.quick:
                held_list = per_class_subset(held_list, QUICK_HELDOUT_PER_CLASS,
                                             out_dir / preset / f"heldout-{QUICK_HELDOUT_PER_CLASS}.txt")
            cfg = build_base_config(train_root, args.fold, args.quick, args.overrides, args.config)
            assert cfg.data.root is not None and cfg.data.test_list is not None
            test_sets = [TestSet("heldout", str(held_root), str(held_list)),
                         TestSet("fold", cfg.data.root, cfg.data.test_list)]
            command = spec.command() if standard else f"a custom dataset in {held_root}"
            parts[preset] = StudyPart(preset, cfg, [], test_sets, command)
        parts[preset].phases.append(exps)
    if args.au_evidence:
        return run_au_evidence(args, parts, seeds, out_dir)
    setting = AblationSetting(mode="quick" if args.quick else "full", base_config=args.config,
                              data_root=str(args.data), fold=args.fold, seeds=seeds,
                              extra_overrides=list(args.overrides))
    run_study(list(parts.values()), setting, out_dir, args.records_dir, None if args.report == "-" else args.report,
              report_only=args.report_only)
    return 0


def run_au_evidence(args: argparse.Namespace, parts: dict, seeds: list[int], out_dir: Path) -> int:
    """``--au-evidence``: the shipped CLIP and the full model (first seed, aligned preset) on the held-out set."""
    from ..ablation.au_study import BEGIN_MARKER, END_MARKER, render_au_study, run_au_study
    from ..ablation.grid import build_grid, experiment_config, select_experiments
    from ..ablation.keys import input_fingerprint, run_key
    from ..errors import UsageError
    from ..fileio import atomic_write_text

    part = parts.get("aligned")
    if part is None:
        raise UsageError("--au-evidence needs the aligned preset")
    full = select_experiments(build_grid(), ["table4/+CCR"])[0]
    key = run_key(experiment_config(part.base, full, seeds[0]), input_fingerprint(part.base))
    run_dir = out_dir / "aligned" / "runs" / key
    if not (run_dir / "best").is_dir():
        raise UsageError(f"the full model of seed {seeds[0]} has no kept weights in {run_dir} yet",
                         hint="run (or let finish) its training first: dkclip ablate with the same --out-dir")
    held = next(t for t in part.test_sets if t.name == "heldout")
    records = Path(args.records_dir) if args.records_dir else out_dir
    result = run_au_study({"shipped CLIP": "shipped", "fine-tuned": run_dir / "best"}, held.list_file, held.root,
                          records / "au_evidence.json")
    block = render_au_study(result)
    print(block)
    if args.report != "-":
        report = Path(args.report)
        text = report.read_text() if report.is_file() else ""
        begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
        if begin < 0 or end < begin:
            raise UsageError(f"{report} has no {BEGIN_MARKER} ... {END_MARKER} block; add the markers where the "
                             "table should go")
        atomic_write_text(report, text[:begin] + block + text[end + len(END_MARKER):])
    return 0
