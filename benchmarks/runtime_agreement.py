"""What ``--runtime torch-int8`` and ``--runtime onnx`` cost in exactness: label agreement with fp32 and the UAR change.

    python benchmarks/runtime_agreement.py --model runs/<run> --list data/heldout/all.txt --root data/heldout \
        [--random-models dkclip-vit-b-16] [--random-clips 28] [--batch 4]

Each clip of the list is sampled and transformed as evaluation does (the model's own config: T, size,
normalisation) and run through the model on each runtime (the whole-clip forward of :mod:`dkclip.predict.runtime`,
i.e. what one window costs); per head (global, local, fused) the script prints UAR and WAR against the labels,
the UAR change from fp32 (points) and the share of clips whose predicted label equals fp32's. A runtime that
loses more than 0.5 UAR points or 5% label agreement is not offered as the default (issue 18).

``--random-models`` repeats the agreement (no UAR: random weights predict nothing) on randomly initialised
architectures, e.g. ViT-B/16, over the first ``--random-clips`` clips resized to the model's input.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import numpy as np
import torch

RUNTIMES = ("torch", "torch-int8", "onnx")


def predictions(model: Any, list_file: str, root: str | None, batch: int, limit: int | None = None
                ) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]], dict[str, float]]:
    """Labels, per runtime the per-head predicted classes, and per runtime the seconds it took."""
    from dkclip.data.dataset import build_dataset
    from dkclip.model.heads import head_probabilities
    from dkclip.predict.runtime import build_runtime

    cfg = model.config
    dataset = build_dataset(list_file, "test", num_frames=cfg.test_num_frames, image_size=cfg.image_size, root=root,
                            num_classes=cfg.num_classes,
                            normalize=(tuple(cfg.image_mean), tuple(cfg.image_std)), short_clip=cfg.short_clip)
    count = len(dataset) if limit is None else min(limit, len(dataset))
    samples = [dataset[i] for i in range(count)]
    videos = torch.stack([s["video"] for s in samples])
    labels = np.array([int(s["label"]) for s in samples])
    out: dict[str, dict[str, np.ndarray]] = {}
    seconds: dict[str, float] = {}
    for name in RUNTIMES:
        runtime = build_runtime(model, name, torch.device("cpu"))
        started = time.process_time()
        heads: dict[str, list[np.ndarray]] = {}
        for i in range(0, count, batch):
            probs = head_probabilities(runtime.forward(videos[i:i + batch]))
            for head, p in probs.items():
                heads.setdefault(head, []).append(p.argmax(-1).numpy())
        seconds[name] = time.process_time() - started
        out[name] = {head: np.concatenate(v) for head, v in heads.items()}
    return labels, out, seconds


def report(title: str, labels: np.ndarray | None, preds: dict[str, dict[str, np.ndarray]],
           seconds: dict[str, float]) -> None:
    from dkclip.stats import uar_war

    print(f"\n{title} ({len(next(iter(preds['torch'].values())))} clips)")
    print("| runtime | head | UAR | WAR | ΔUAR vs fp32 (points) | label agreement with fp32 | CPU s |")
    print("|---|---|---|---|---|---|---|")
    for name, heads in preds.items():
        for head, p in heads.items():
            ref = preds["torch"][head]
            agree = 100 * float((p == ref).mean())
            if labels is not None:
                uar, war = uar_war(labels, p)
                ref_uar, _ = uar_war(labels, ref)
                cells = f"{100 * uar:.2f} | {100 * war:.2f} | {100 * (uar - ref_uar):+.2f}"
            else:
                cells = "– | – | –"
            print(f"| {name} | {head} | {cells} | {agree:.1f}% | {seconds[name]:.1f} |")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="a trained model (run directory, export, best/)")
    p.add_argument("--list", required=True, help="held-out clips (a list file)")
    p.add_argument("--root", default=None, help="where the list's paths are")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--random-models", nargs="*", default=[], help="architectures for agreement on random weights")
    p.add_argument("--random-clips", type=int, default=28)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    torch.set_num_threads(args.threads)
    import dkclip

    model = dkclip.load_model(args.model)
    labels, preds, seconds = predictions(model, args.list, args.root, args.batch)
    report(f"{model.config.name}, trained ({args.model})", labels, preds, seconds)
    for name in args.random_models:
        torch.manual_seed(0)
        random_model = dkclip.create_model(name).eval()
        _, preds, seconds = predictions(random_model, args.list, args.root, args.batch, args.random_clips)
        report(f"{name}, random weights", None, preds, seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
