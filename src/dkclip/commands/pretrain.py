"""``dkclip pretrain``: contrastive image-text pretraining of a CLIP configuration on synthetic faces with AU
captions (resumable: run the same command again to continue)."""

from __future__ import annotations

import argparse
import dataclasses


def add_parser(sub: argparse._SubParsersAction) -> None:
    from ..pretrain.pretrain_config import PretrainConfig

    p = sub.add_parser("pretrain", help="pretrain a CLIP on synthetic AU-captioned faces")
    defaults = PretrainConfig()
    for f in dataclasses.fields(PretrainConfig):
        flag = "--" + f.name.replace("_", "-")
        p.add_argument(flag, type=type(getattr(defaults, f.name)), default=getattr(defaults, f.name),
                       help=f"(default {getattr(defaults, f.name)})")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..pretrain.pretrain_config import PretrainConfig
    from ..pretrain.trainer import pretrain

    cfg = PretrainConfig(**{f.name: getattr(args, f.name) for f in dataclasses.fields(PretrainConfig)})
    weights = pretrain(cfg)
    print(f"pretrained CLIP weights: {weights}")
    return 0
