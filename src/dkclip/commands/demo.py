"""``dkclip demo``: the interim demo. Runs dkclip-tiny on a synthetic clip and prints what the model outputs."""

from __future__ import annotations

import argparse

import torch


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="run dkclip-tiny on a synthetic clip (interim demo)")
    p.add_argument("--model", default="dkclip-tiny")
    p.add_argument("--clip-weights", default=None, help="local CLIP checkpoint (default: random init)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def synthetic_clip(frames: int, size: int, generator: torch.Generator) -> torch.Tensor:
    """A smooth moving blob pattern: enough structure to give non-trivial snippet scores."""
    t = torch.linspace(0, 1, frames).view(frames, 1, 1, 1)
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    centre = torch.rand(2, generator=generator) - 0.5
    blob = torch.exp(-((xs - centre[0] - 0.6 * t) ** 2 + (ys - centre[1]) ** 2) / 0.1)
    colour = torch.rand(1, 3, 1, 1, generator=generator)
    noise = 0.1 * torch.randn(frames, 3, size, size, generator=generator)
    return ((blob * colour + noise) - 0.45) / 0.25


def run(args: argparse.Namespace) -> int:
    from .. import create_model

    torch.manual_seed(args.seed)
    model = create_model(args.model, clip_weights=args.clip_weights).eval()
    cfg = model.config
    gen = torch.Generator().manual_seed(args.seed)
    video = synthetic_clip(cfg.num_frames, cfg.image_size, gen).unsqueeze(0)
    with torch.no_grad():
        out = model(video)
    names = cfg.class_names or [f"class{i}" for i in range(cfg.num_classes)]
    probs = out.logits.softmax(-1)[0]
    print(f"model {cfg.name}: T={cfg.num_frames} frames in N={cfg.num_snippets} snippets, {cfg.image_size} px "
          f"(interim demo: untrained weights, synthetic clip)")
    print(f"global prediction: {names[int(probs.argmax())]} (p={float(probs.max()):.3f})")
    fused = out.fused_local_logits.softmax(-1)[0]
    print(f"fused local prediction: {names[int(fused.argmax())]} (p={float(fused.max()):.3f})")
    print(f"{'snippet':>8} {'frames':>8} {'a*':>7} {'kept':>5}  local prediction")
    per = cfg.num_frames // cfg.num_snippets
    for n in range(cfg.num_snippets):
        local = out.local_logits[0, n].softmax(-1)
        print(f"{n:>8} {f'{n * per}-{(n + 1) * per - 1}':>8} {float(out.snippet_scores[0, n]):7.3f} "
              f"{'yes' if out.kept[0, n] else 'no':>5}  {names[int(local.argmax())]} (p={float(local.max()):.3f})")
    return 0
