"""``dkclip prepare``: build list files from the official DFEW / FERV39K / MAFW splits, and check lists.

``dkclip prepare lists {dfew,ferv39k,mafw} --labels DIR --frames DIR --out DIR`` writes our
``<path> <num_frames> <label>`` lists (formats expected: :mod:`dkclip.data.prepare`, ``docs/data.md``).
``dkclip prepare check LIST [--root DIR]`` verifies a list against the disk.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="make and check data list files")
    psub = p.add_subparsers(dest="prepare_command", required=True, metavar="ACTION")

    lists = psub.add_parser("lists", help="convert official DFEW/FERV39K/MAFW split files to list files")
    lists.add_argument("dataset", choices=("dfew", "ferv39k", "mafw"))
    lists.add_argument("--labels", required=True,
                       help="DFEW: EmoLabel_DataSplit/; FERV39K: 4_setups/All_scenes/; "
                            "MAFW: 'Train & Test Set/single/no_caption/'")
    lists.add_argument("--frames", required=True,
                       help="root of the per-clip frame folders (DFEW: Clip/clip_224x224/; "
                            "FERV39K: 2_ClipsforFaceCrop/; MAFW: data/frames/ or data/faces/)")
    lists.add_argument("--out", required=True, help="output folder for the .txt lists")
    lists.add_argument("--folds", default="1,2,3,4,5", help="DFEW/MAFW folds to convert (default: all)")
    lists.add_argument("--id-width", type=int, default=5, help="DFEW: zero-padding of clip folder names")
    lists.add_argument("--absolute", action="store_true", help="write absolute paths (default: relative to --frames)")
    lists.add_argument("--strict", action="store_true", help="fail on any missing folder or count mismatch")
    lists.set_defaults(func=run_lists)

    check = psub.add_parser("check", help="check a list file against the disk")
    check.add_argument("list_file")
    check.add_argument("--root", default=None, help="data root that relative paths are joined to")
    check.add_argument("--rewrite", action="append", default=[], metavar="OLD=NEW", help="path prefix rewrite")
    check.add_argument("--format", default="auto", choices=("auto", "list", "path_label", "csv"))
    check.add_argument("--num-classes", type=int, default=None)
    check.set_defaults(func=run_check)


def run_lists(args: argparse.Namespace) -> int:
    from ..data.prepare import PREPARERS

    kwargs: dict[str, object] = {"absolute": args.absolute, "strict": args.strict}
    if args.dataset in ("dfew", "mafw"):
        kwargs["folds"] = [int(k) for k in args.folds.split(",") if k.strip()]
    if args.dataset == "dfew":
        kwargs["id_width"] = args.id_width
    report = PREPARERS[args.dataset](args.labels, args.frames, args.out, **kwargs)
    print(report.summary())
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..data.prepare import check_list

    result = check_list(args.list_file, root=args.root, rewrites=args.rewrite, fmt=args.format,
                        num_classes=args.num_classes)
    print(result.summary())
    return 0 if result.ok else 1
