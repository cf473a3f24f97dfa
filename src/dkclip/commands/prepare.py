"""``dkclip prepare``: build list files from the official DFEW / FERV39K / MAFW splits, and check lists.

``dkclip prepare lists {dfew,ferv39k,mafw} --labels DIR --media DIR --out DIR`` writes our
``<path> <num_frames> <label>`` lists (formats expected: :mod:`dkclip.data.prepare`, ``docs/data.md``).
``dkclip prepare check LIST [--root DIR]`` verifies a list against the disk.
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("prepare", help="make and check data list files")
    psub = p.add_subparsers(dest="prepare_command", required=True, metavar="ACTION")

    lists = psub.add_parser(
        "lists", help="convert official DFEW/FERV39K/MAFW split files to list files",
        description="Convert the official split files to list files. Nothing is written when a split would be "
                    "empty, when more than half of a split's clips are missing on disk, or (--strict) on any "
                    "finding. Parent folders are searched for the split files and the clips, and the output "
                    "says which folders were used.")
    lists.add_argument("dataset", choices=("dfew", "ferv39k", "mafw"))
    lists.add_argument("--labels", required=True,
                       help="DFEW: EmoLabel_DataSplit/; FERV39K: 4_setups/All_scenes/; "
                            "MAFW: 'Train & Test Set/single/no_caption/' (or a parent of these)")
    lists.add_argument("--media", "--frames", dest="frames", required=True, metavar="DIR",
                       help="folder of the clips, as frame folders or one video per clip (DFEW: Clip/clip_224x224/ "
                            "or Clip/clip_224x224_avi/; FERV39K: 2_ClipsforFaceCrop/; MAFW: data/faces/, "
                            "data/frames/ or data/clips/); a parent is searched three levels down")
    lists.add_argument("--out", required=True, help="output folder for the .txt lists")
    lists.add_argument("--folds", default=None,
                       help="DFEW/MAFW folds to convert, e.g. 1,3 (default: every fold whose split files exist)")
    lists.add_argument("--id-width", type=int, default=5, help="DFEW: zero-padding of clip folder names")
    lists.add_argument("--absolute", action="store_true",
                       help="write absolute paths (default: relative to the media folder)")
    lists.add_argument("--strict", action="store_true",
                       help="fail, writing nothing, on any finding (missing clip, duplicate row, size mismatch)")
    lists.set_defaults(func=run_lists)

    check = psub.add_parser("check", help="check a list file against the disk",
                            description="Check every clip of a list: media present and non-empty, label in range, "
                                        "no path listed twice, num_frames as on disk. Exit 1 on a problem "
                                        "(an empty list included).")
    check.add_argument("list_file")
    check.add_argument("--root", default=None, help="data root that relative paths are joined to")
    check.add_argument("--rewrite", action="append", default=[], metavar="OLD=NEW", help="path prefix rewrite")
    check.add_argument("--format", default="auto", choices=("auto", "list", "path_label", "csv"))
    check.add_argument("--num-classes", type=int, default=None)
    check.set_defaults(func=run_check)


def _parse_folds(text: str) -> list[int]:
    from ..errors import UsageError

    try:
        return [int(k) for k in text.split(",") if k.strip()]
    except ValueError:
        raise UsageError(f"--folds: expected fold numbers like 1,2,3, got {text!r}") from None


def run_lists(args: argparse.Namespace) -> int:
    from ..data.prepare import PREPARERS
    from ..errors import UsageError

    kwargs: dict[str, object] = {"absolute": args.absolute, "strict": args.strict}
    if args.dataset in ("dfew", "mafw"):
        kwargs["folds"] = _parse_folds(args.folds) if args.folds is not None else None
    elif args.folds is not None:
        raise UsageError("--folds: FERV39K has one train/test split, no folds")
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
