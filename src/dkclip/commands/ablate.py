"""``dkclip ablate [--quick]``: the paper's ablations (Tables 4-5, Fig. 3) and the NRM as a noise detector, on the
synthetic dataset, each run evaluated on a large held-out test set with stored per-clip predictions, the claims
decided by paired tests; resumable; the Markdown goes between markers in ``--report``. See
:mod:`dkclip.ablation` for the grid and the choices made."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..ablation.grid import PRESETS, QUICK_ESTIMATE
    from ..ablation.plan import AblateOptions

    d = AblateOptions()  # the defaults live with the options

    p = sub.add_parser("ablate", help="the ablation study in miniature on the synthetic dataset (resumable)",
                       description="Fine-tune the Table 4 / Table 5 / Fig. 3 variants from the shipped weights with "
                                   "the synthetic_tiny recipe, over seeds and presets; evaluate each on a held-out "
                                   "set of 700 clips (stored per clip); write the cells with intervals, the claims "
                                   "with paired tests, and the NRM's noise detection. Rerun to resume.")
    p.add_argument("--quick", action="store_true",
                   help=f"one seed, 8 epochs, aligned preset, 140 held-out clips ({QUICK_ESTIMATE})")
    p.add_argument("--out-dir", default=d.out_dir,
                   help=f"run directories with the kept weights (default {d.out_dir})")
    p.add_argument("--records-dir", default=None,
                   help="per-run records, per-clip predictions, ablation.json, report.md (default: --out-dir; the "
                        "committed study: docs/ablation)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default: 0 1 2 (--quick: 0)")
    p.add_argument("--presets", nargs="+", choices=PRESETS, default=None,
                   help="default: aligned wild (--quick: aligned)")
    p.add_argument("--data", default=d.data,
                   help=f"aligned training data; generated with the demo's settings when absent (default {d.data})")
    p.add_argument("--heldout", default=d.heldout,
                   help=f"aligned held-out test set; generated when absent (default {d.heldout})")
    p.add_argument("--wild-data", default=d.wild_data, help=f"wild training data (default {d.wild_data})")
    p.add_argument("--wild-heldout", default=d.wild_heldout,
                   help=f"wild held-out test set (default {d.wild_heldout})")
    p.add_argument("--fold", type=int, default=d.fold,
                   help=f"fold of the training data held out as 'fold' (default {d.fold})")
    p.add_argument("--report", default=d.report,
                   help=f"Markdown file whose ablate block is replaced (default {d.report}); '-' writes none")
    p.add_argument("--report-only", action="store_true",
                   help="train and evaluate nothing: summarise the recorded runs (missing cells are listed)")
    p.add_argument("--au-evidence", action="store_true",
                   help="train nothing: measure the action-unit evidence (dkclip.model.au_evidence) on the aligned "
                        "held-out set for the shipped CLIP and the recorded full model of the first seed; writes "
                        "<records-dir>/au_evidence.json and the au-evidence block of --report")
    p.add_argument("--config", default=d.config, help=f"base recipe (default {d.config})")
    p.add_argument("--experiments", nargs="+", default=None, metavar="NAME",
                   help="run only these: ids (table4/+HVE), tables (theta) or globs (table5/*)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override applied to every run on top of the base recipe, e.g. --set schedule.epochs=2")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..ablation.plan import AblateOptions
    from ..ablation.runner import run_ablation

    options = AblateOptions(
        quick=args.quick, out_dir=args.out_dir, records_dir=args.records_dir, seeds=args.seeds,
        presets=args.presets, data=args.data, heldout=args.heldout, wild_data=args.wild_data,
        wild_heldout=args.wild_heldout, fold=args.fold, report=None if args.report == "-" else args.report,
        report_only=args.report_only, au_evidence=args.au_evidence, config=args.config,
        experiments=args.experiments, overrides=list(args.overrides))
    print(run_ablation(options))
    return 0
