"""Training and prediction throughput on one accelerator: clips/s, MFU, peak memory, predict frames/s.

    python benchmarks/gpu.py                          # on a GPU: dkclip-vit-b-16, the paper's batch (8 × T 16)
    python benchmarks/gpu.py --device cpu --small     # the CPU smoke run the test suite does (dkclip-tiny)

One prepared script of at most ~5 minutes on a GPU (randomly initialised weights: speed does not depend on them):

1. **Training**: the paper's recipe step (AdamW with the model's parameter groups, DK-CLIP's loss, Eq. 11) at
   ``--batch`` clips of ``--frames`` frames, bf16 autocast on GPUs that support it (the trainer's ``run.amp``),
   attention through PyTorch's scaled-dot-product attention (the model's own path), eager and with
   ``torch.compile`` (``--compile auto``: on CUDA only; the faster is reported as such). Prints clips/s, the
   model FLOPs per step (counted by ``torch.utils.flop_counter`` on one step), MFU = achieved FLOP/s over the
   device's peak (``--peak-tflops``, or a table of known GPUs' dense bf16 peaks), and the peak memory.
2. **Prediction**: ``dkclip predict``'s model path: snippets of F = T/N frames through
   :meth:`DKClip.encode_snippets` in batches of ``--predict-snippets``, then windows through
   :meth:`DKClip.integrate`; prints sampled frames/s and what that is in real time per face at the default
   2 s / 1 s windows (8 new sampled frames per second of video).

Nothing is written; the numbers go to stdout (``--json FILE`` also writes them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import resource
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import torch

# Dense bf16 tensor-core peaks (TFLOP/s) of common GPUs, by a substring of torch.cuda.get_device_name().
PEAK_TFLOPS = {"H200": 989.0, "H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
               "RTX 4090": 165.0, "RTX 3090": 71.0, "V100": 125.0, "T4": 65.0}
NEW_FRAMES_PER_SECOND = 8  # 2 s windows every 1 s, T = 16, N = 4: two new snippets of 4 sampled frames a second


def peak_tflops(device: torch.device, given: float | None) -> float | None:
    if given is not None:
        return given
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((v for k, v in PEAK_TFLOPS.items() if k in name), None)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def autocast(device: torch.device, enabled: bool) -> contextlib.AbstractContextManager[Any]:
    if not enabled:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def peak_memory_mib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # the process's peak RSS (Linux: KiB)


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def timed(step: Callable[[], Any], device: torch.device, warmup: int, steps: int) -> float:
    """Seconds per call of ``step`` after ``warmup`` calls (compilation happens there)."""
    for _ in range(warmup):
        step()
    synchronize(device)
    started = time.perf_counter()
    for _ in range(steps):
        step()
    synchronize(device)
    return (time.perf_counter() - started) / steps


@contextlib.contextmanager
def count_flops() -> Iterator[Any]:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        yield counter


def training(model: Any, args: argparse.Namespace, device: torch.device, use_bf16: bool) -> dict[str, Any]:
    from dkclip.losses import DKClipLoss

    model.train()
    cfg = model.config
    loss_fn = DKClipLoss(lam=1.0)
    optimizer = torch.optim.AdamW(model.param_groups(base_lr=2e-6, weight_decay=1e-3), betas=(0.9, 0.98))
    video = torch.randn(args.batch, args.frames, 3, cfg.image_size, cfg.image_size, device=device)
    target = torch.randint(0, model.num_classes, (args.batch,), device=device)

    def make_step(net: Callable[[torch.Tensor], Any]) -> Callable[[], None]:
        def step() -> None:
            optimizer.zero_grad(set_to_none=True)
            with autocast(device, use_bf16):
                loss = loss_fn(net(video), target).total
            loss.backward()
            optimizer.step()
        return step

    with count_flops() as counter:
        make_step(model)()
    flops = float(counter.get_total_flops())
    results: dict[str, Any] = {"model": args.model, "batch": args.batch, "frames": args.frames,
                               "bf16": use_bf16, "flops_per_step": flops}
    variants: list[tuple[str, Callable[[torch.Tensor], Any]]] = [("eager", model)]
    if args.compile == "on" or (args.compile == "auto" and device.type == "cuda"):
        variants.append(("compiled", torch.compile(model)))
    peak = peak_tflops(device, args.peak_tflops)
    for name, net in variants:
        reset_peak(device)
        seconds = timed(make_step(net), device, args.warmup, args.steps)
        results[name] = {"seconds_per_step": seconds, "clips_per_s": args.batch / seconds,
                         "tflops": flops / seconds / 1e12,
                         "mfu": None if peak is None else flops / seconds / (peak * 1e12),
                         "peak_memory_mib": peak_memory_mib(device)}
    return results


def prediction(model: Any, args: argparse.Namespace, device: torch.device, use_bf16: bool) -> dict[str, Any]:
    from dkclip.model.dkclip import SnippetFeatures

    model.eval()
    cfg = model.config
    n = cfg.num_snippets
    per = args.frames // n
    snippets = torch.randn(args.predict_snippets, per, 3, cfg.image_size, cfg.image_size, device=device)
    windows = max(1, args.predict_snippets - n + 1)
    index = torch.arange(n, device=device)[None] + torch.arange(windows, device=device)[:, None]  # stride 1 snippet
    encoder: Callable[[torch.Tensor], SnippetFeatures] = model.encode_snippets
    if args.compile == "on" or (args.compile == "auto" and device.type == "cuda"):
        encoder = torch.compile(model.encode_snippets)

    def step() -> None:
        with torch.inference_mode(), autocast(device, use_bf16):
            model.integrate(encoder(snippets)[index])

    reset_peak(device)
    seconds = timed(step, device, args.warmup, args.steps)
    frames_per_s = args.predict_snippets * per / seconds
    return {"snippets_per_batch": args.predict_snippets, "frames_per_snippet": per, "windows_per_batch": windows,
            "sampled_frames_per_s": frames_per_s, "realtime_per_face": frames_per_s / NEW_FRAMES_PER_SECOND,
            "peak_memory_mib": peak_memory_mib(device)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default=None, help="cuda (default when available) or cpu")
    p.add_argument("--small", action="store_true",
                   help="the CPU smoke sizes: dkclip-tiny, batch 2, T 4, 1 step, 4 snippets")
    p.add_argument("--model", default="dkclip-vit-b-16")
    p.add_argument("--batch", type=int, default=8, help="clips per training step (the paper's 8)")
    p.add_argument("--frames", type=int, default=16, help="T (the paper's 16)")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (torch.compile compiles here)")
    p.add_argument("--predict-snippets", type=int, default=64, help="snippets per encoding batch")
    p.add_argument("--compile", choices=("auto", "on", "off"), default="auto")
    p.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                   help="bf16 autocast (auto: on CUDA devices that support it)")
    p.add_argument("--peak-tflops", type=float, default=None, help="the device's peak, for MFU")
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    if args.small:  # the FLOP-counting step warms up too
        args.model, args.batch, args.frames, args.steps, args.warmup, args.predict_snippets = (
            "dkclip-tiny", 2, 4, 1, 0, 4)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    use_bf16 = args.bf16 == "on" or (args.bf16 == "auto" and device.type == "cuda"
                                     and torch.cuda.is_bf16_supported())
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {name}; torch {torch.__version__}; bf16 autocast: {use_bf16}; compile: {args.compile}")
    results: dict[str, Any] = {"device": name, "torch": torch.__version__}
    import dkclip

    torch.manual_seed(0)
    model = dkclip.create_model(args.model, num_frames=args.frames).to(device)  # trained a little, then predicts
    if not args.skip_training:
        train = training(model, args, device, use_bf16)
        results["training"] = train
        print(f"training {args.model}, batch {args.batch} × T {args.frames}: {train['flops_per_step'] / 1e12:.2f} "
              "TFLOP per step")
        for variant in ("eager", "compiled"):
            if variant in train:
                r = train[variant]
                mfu = "n/a (no peak known)" if r["mfu"] is None else f"{100 * r['mfu']:.1f}%"
                print(f"  {variant}: {r['clips_per_s']:.2f} clips/s ({r['seconds_per_step']:.3f} s/step), "
                      f"{r['tflops']:.2f} TFLOP/s, MFU {mfu}, peak memory {r['peak_memory_mib']:.0f} MiB")
    predict = prediction(model, args, device, use_bf16)
    results["predict"] = predict
    print(f"predict {args.model}: {predict['sampled_frames_per_s']:.1f} sampled frames/s "
          f"({predict['snippets_per_batch']} snippets of {predict['frames_per_snippet']} frames a batch) = "
          f"{predict['realtime_per_face']:.1f}× real time per face at 2 s / 1 s windows; peak memory "
          f"{predict['peak_memory_mib']:.0f} MiB")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return results


if __name__ == "__main__":
    main()
    sys.exit(0)
