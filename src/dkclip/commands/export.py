"""``dkclip export RUN --out DIR [--onnx]``: weights-only ``model.safetensors`` + ``config.json`` for inference,
and with ``--onnx`` also ``model.onnx``, the video model for ONNX Runtime (``dkclip predict --model
DIR/model.onnx``), checked against PyTorch on the same input."""

from __future__ import annotations

import argparse

# Largest difference from PyTorch (over logits, scores and embeddings) an ONNX export may show. ONNX Runtime's
# fused kernels round differently (~1e-6 on embeddings), which the logit scale (100) and the NRM's min-max
# scaling of near-equal snippet similarities magnify to ~1e-4 on fused logits; a wrong graph differs by ~1.
ONNX_TOLERANCE = 1e-2


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export", help="export a trained model as model.safetensors + config.json")
    p.add_argument("source", help="a run directory (its best/ model, else last.pt) or a last.pt checkpoint")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), default="fp32",
                   help="weights precision of the export (fp16/bf16: half the size; loading casts back to fp32)")
    p.add_argument("--onnx", action="store_true",
                   help="also write model.onnx: the video model (frames -> logits, local logits, snippet scores, "
                        "kept, embeddings), dynamic batch, fp32, for ONNX Runtime (needs pip install onnx "
                        "onnxruntime)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from ..errors import CheckpointError
    from ..factory import load_model, save_model

    model = load_model(args.source)
    dtype = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}[args.dtype]
    out = save_model(model, args.out, dtype=dtype)
    print(f"exported {model.config.name} ({model.num_classes} classes, {args.dtype}) to {out}")
    if args.onnx:
        from ..model.onnx import export_video_model

        path = Path(out) / "model.onnx"
        diff = export_video_model(model, path)
        if not diff <= ONNX_TOLERANCE:  # also catches inf: an NRM keep decision that differs
            path.unlink(missing_ok=True)
            raise CheckpointError(f"{path}: the ONNX graph differs from PyTorch by {diff:.3g} (more than "
                                  f"{ONNX_TOLERANCE:g}); not written")
        print(f"wrote {path} (T = {model.config.test_num_frames}, dynamic batch); max abs difference from PyTorch "
              f"on the same input: {diff:.2e}")
    return 0
