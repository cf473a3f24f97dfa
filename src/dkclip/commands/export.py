"""``dkclip export RUN --out DIR``: weights-only ``model.safetensors`` + ``config.json`` for inference."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model as model.safetensors + config.json")
    p.add_argument("source", help="a run directory (its best/ model, else last.pt) or a last.pt checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="weights precision of the export (fp16/bf16: half the size; loading casts back to fp32)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..factory import load_model, save_model

    model = load_model(args.source)
    dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    out = save_model(model, args.out, dtype=dtype)
    print(f"exported {model.config.name} ({model.num_classes} classes, {args.dtype}) to {out}")
    return 0
