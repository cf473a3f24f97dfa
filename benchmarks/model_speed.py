"""DK-CLIP speed against the plain CLIP image encoder, in one process (absolute times are noisy here; ratios
are what we track).

For each backbone: forward and forward+backward time of DK-CLIP (batch 1, T=16 frames, 224 px, fp32) next to
open_clip's ``encode_image`` on the same 16 frames. Runs are interleaved and the median is reported.
A second baseline, DK-CLIP with ``temporal="avgpool", use_cmam=False`` (exactly CLIP's image encoder, run through
our SDPA blocks), separates the cost of DK-CLIP's modules from the difference between attention kernels.

    python benchmarks/model_speed.py [--models dkclip-vit-b-32 dkclip-vit-b-16] [--repeats 7] [--device cpu]

Goal (issue 2): forward <= 1.10x and forward+backward <= 1.15x the plain CLIP image encoder.

``--variants`` instead compares the released code's options (docs/method.md §6.1, D1/D2) with the default model,
in the same process: parameters (all, trainable) and forward / forward+backward time relative to the default,
for ``visual_semantic`` (``cmam_visual_source="visual_semantic"``) and ``authors_code`` (that, plus
``init_style="authors_code"`` and the frozen MSIM, as the ``authors_code`` run config builds it):

    python benchmarks/model_speed.py --variants --models dkclip-tiny dkclip-vit-b-16 --repeats 5
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable

import torch
from torch.utils.flop_counter import FlopCounterMode

import dkclip
from dkclip.clip_loading import build_clip
from dkclip.losses import DKClipLoss


def _timed(fn: Callable[[], None], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def bench_model(name: str, repeats: int, frames: int, device: torch.device) -> dict[str, float]:
    torch.manual_seed(0)
    model = dkclip.create_model(name).to(device)
    plain = dkclip.create_model(name, temporal="avgpool", use_cmam=False, use_nrm=False).to(device)
    clip = build_clip(model.config.clip).to(device)  # same architecture; speed does not depend on the weights
    size = model.config.image_size
    video = torch.randn(1, frames, 3, size, size, device=device)
    target = torch.tensor([0], device=device)
    loss_fn = DKClipLoss()
    for p in clip.parameters():  # baseline trains its image tower, as DK-CLIP does
        p.requires_grad_(False)
    for p in clip.visual.parameters():
        p.requires_grad_(True)

    def clip_fwd() -> None:
        with torch.no_grad():
            clip.encode_image(video.flatten(0, 1))

    def dk_fwd() -> None:
        with torch.no_grad():
            model(video)

    def plain_fwd() -> None:
        with torch.no_grad():
            plain(video)

    def plain_fwd_bwd() -> None:
        plain(video).video_embedding.sum().backward()
        plain.zero_grad(set_to_none=True)

    def clip_fwd_bwd() -> None:
        clip.encode_image(video.flatten(0, 1)).sum().backward()
        clip.zero_grad(set_to_none=True)

    def dk_fwd_bwd() -> None:
        loss_fn(model(video), target).total.backward()
        model.zero_grad(set_to_none=True)

    runs = {"clip_fwd": clip_fwd, "plain_fwd": plain_fwd, "dk_fwd": dk_fwd,
            "clip_fwdbwd": clip_fwd_bwd, "plain_fwdbwd": plain_fwd_bwd, "dk_fwdbwd": dk_fwd_bwd}
    results: dict[str, list[float]] = {k: [] for k in runs}
    for phase, train in (("_fwd", False), ("_fwdbwd", True)):
        for module in (clip, plain, model):
            module.train(train)
        keys = [k for k in runs if k.endswith(phase)]
        for key in keys:  # warm-up (also fills DK-CLIP's text cache)
            runs[key]()
        for _ in range(repeats):
            for key in keys:
                results[key].append(_timed(runs[key], device))
    return {k: statistics.median(v) for k, v in results.items()}


VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "visual_semantic": {"cmam_visual_source": "visual_semantic"},
    "authors_code": {"cmam_visual_source": "visual_semantic", "init_style": "authors_code"},
}


def bench_variants(name: str, repeats: int, frames: int, device: torch.device) -> dict[str, dict[str, float]]:
    """Per variant: parameters (all, trainable), FLOPs, and the fastest of ``repeats`` forward and
    forward+backward passes (batch 1; on a shared machine other jobs only add time, so the minimum is the
    least disturbed measurement)."""
    models = {}
    for variant, options in VARIANTS.items():
        torch.manual_seed(0)
        models[variant] = dkclip.create_model(name, **options).to(device)
    models["authors_code"].freeze_msim(True)  # optim.freeze_msim of the authors_code run config
    size = models["default"].config.image_size
    video = torch.randn(1, frames, 3, size, size, device=device)
    target = torch.tensor([0], device=device)
    loss_fn = DKClipLoss()

    def fwd(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            with torch.no_grad():
                model(video)
        return run

    def fwd_bwd(model: torch.nn.Module) -> Callable[[], None]:
        def run() -> None:
            loss_fn(model(video), target).total.backward()
            model.zero_grad(set_to_none=True)
        return run

    times: dict[str, dict[str, list[float]]] = {v: {"fwd": [], "fwdbwd": []} for v in models}
    flops: dict[str, dict[str, float]] = {v: {} for v in models}
    for phase, make, train in (("fwd", fwd, False), ("fwdbwd", fwd_bwd, True)):
        runs = {v: make(m.train(train)) for v, m in models.items()}
        for variant, run in runs.items():
            run()  # warm-up; fills the text cache, which is then reused
            with FlopCounterMode(display=False) as counter:
                run()
            flops[variant][phase] = float(counter.get_total_flops())
        for _ in range(repeats):  # interleaved, so that load changes hit every variant alike
            for variant, run in runs.items():
                times[variant][phase].append(_timed(run, device))
    return {v: {"params": float(sum(p.numel() for p in m.parameters())),
                "trainable": float(sum(p.numel() for p in m.parameters() if p.requires_grad)),
                "fwd": min(times[v]["fwd"]), "fwdbwd": min(times[v]["fwdbwd"]),
                "fwd_flops": flops[v]["fwd"], "fwdbwd_flops": flops[v]["fwdbwd"]}
            for v, m in models.items()}


def main_variants(args: argparse.Namespace, device: torch.device) -> None:
    print("Ratios are against the default model. FLOPs: torch.utils.flop_counter (matrix products and attention), "
          "independent of the machine's load; times: fastest of interleaved runs.")
    print("| model | variant | parameters | trainable | forward GFLOP (ratio) | forward s (ratio) "
          "| forward+backward GFLOP (ratio) | forward+backward s (ratio) |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models:
        r = bench_variants(name, args.repeats, args.frames, device)
        base = r["default"]
        for variant, v in r.items():
            cells = [f"{v[f'{k}_flops'] / 1e9:.1f} ({v[f'{k}_flops'] / base[f'{k}_flops']:.2f}) | "
                     f"{v[k]:.3f} ({v[k] / base[k]:.2f})" for k in ("fwd", "fwdbwd")]
            print(f"| {name} | {variant} | {v['params'] / 1e6:.2f}M | {v['trainable'] / 1e6:.2f}M | {cells[0]} "
                  f"| {cells[1]} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["dkclip-vit-b-32", "dkclip-vit-b-16"])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch default)")
    parser.add_argument("--variants", action="store_true",
                        help="compare the released code's options with the default model (see above)")
    args = parser.parse_args()
    logging.getLogger("dkclip").setLevel(logging.ERROR)  # random init is intended here: speed only
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"batch 1, T={args.frames}, fp32, {'fastest' if args.variants else 'median'} of {args.repeats}")
    if args.variants:
        main_variants(args, device)
        return
    print("| model | pass | open_clip encode_image (s) | CLIP via our blocks (s) | DK-CLIP (s) "
          "| DK-CLIP / open_clip | DK-CLIP / our CLIP |")
    print("|---|---|---|---|---|---|---|")
    for name in args.models:
        r = bench_model(name, args.repeats, args.frames, device)
        for phase, label in (("fwd", "forward"), ("fwdbwd", "forward+backward")):
            clip_t, plain_t, dk_t = r[f"clip_{phase}"], r[f"plain_{phase}"], r[f"dk_{phase}"]
            print(f"| {name} | {label} | {clip_t:.3f} | {plain_t:.3f} | {dk_t:.3f} | {dk_t / clip_t:.3f} "
                  f"| {dk_t / plain_t:.3f} |", flush=True)


if __name__ == "__main__":
    main()
