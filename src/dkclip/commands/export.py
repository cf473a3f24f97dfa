"""``dkclip export RUN --out DIR``: weights-only ``model.safetensors`` + ``config.json`` for inference."""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model as model.safetensors + config.json")
    p.add_argument("source", help="a run directory (its best/ model, else last.pt) or a last.pt checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..engine.inference_io import load_trained_model
    from ..factory import save_model

    model, _ = load_trained_model(args.source)
    out = save_model(model, args.out)
    print(f"exported {model.config.name} ({model.num_classes} classes) to {out}")
    return 0
