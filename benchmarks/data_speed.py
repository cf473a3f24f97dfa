"""Data-loading speed: clips/s for frame folders and mp4 files, at 112 and 224 px, with 0/1/2 workers.

Makes its own synthetic clips in a temporary folder (JPEG frame folders and H.264 mp4s with the same content,
DFEW-like 224×224 frames by default), then times full training-mode passes (sampling, decoding, multi-scale
crop, flip, per-frame colour jitter, grayscale, normalisation, collation) through :func:`build_loader`.
``--profile`` also times the stages of one sample and the optimisations against their naive versions.

    python benchmarks/data_speed.py                 # the table in docs/benchmarks.md
    python benchmarks/data_speed.py --profile --source 480
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms.v2 import functional as F

from dkclip.data import build_dataset, build_loader
from dkclip.data.media import FrameFolderReader, VideoFileReader
from dkclip.data.transforms import TrainTransform, sample_jitter

# The test suite's media fixtures (frames that carry their own index), shared with the benchmark.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "tests"))
from media_fixtures import write_frame_folder, write_video


def make_data(root: str, clips: int, frames: int, source: int) -> tuple[str, str]:
    lines_f, lines_v = [], []
    for c in range(clips):
        write_frame_folder(os.path.join(root, f"f{c:03d}"), frames, source, source)
        write_video(os.path.join(root, f"v{c:03d}.mp4"), frames, source, source, crf=18)
        lines_f.append(f"f{c:03d} {frames} {c % 7}")
        lines_v.append(f"v{c:03d}.mp4 {frames} {c % 7}")
    lf, lv = os.path.join(root, "frames.txt"), os.path.join(root, "videos.txt")
    with open(lf, "w") as fh:
        fh.write("\n".join(lines_f) + "\n")
    with open(lv, "w") as fh:
        fh.write("\n".join(lines_v) + "\n")
    return lf, lv


def clips_per_second(list_file: str, root: str, size: int, workers: int, mode: str, epochs: int) -> float:
    ds = build_dataset(list_file, mode, root=root, num_frames=16, image_size=size)  # type: ignore[arg-type]
    loader = build_loader(ds, batch_size=4, num_workers=workers, drop_last=False, shuffle=False,
                          persistent_workers=workers > 0)
    for _ in loader:  # warm-up epoch: worker start-up, page cache, allocator
        pass
    start, n = time.perf_counter(), 0
    for _ in range(epochs):
        for batch in loader:
            n += len(batch["label"])
    return n / (time.perf_counter() - start)


def timed(fn: Callable[[], object], repeat: int = 5) -> float:
    fn()
    start = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - start) / repeat * 1000


def profile(root: str, frames: int, source: int) -> None:
    folder, video = os.path.join(root, "f000"), os.path.join(root, "v000.mp4")
    idx = np.arange(16) * (frames // 16)
    print(f"\nper-sample stages (16 frames of {source}x{source}, torch threads={torch.get_num_threads()}):")
    print(f"  jpeg folder decode, full size     {timed(lambda: FrameFolderReader().read(folder, idx)):7.1f} ms")
    print(f"  jpeg folder decode, draft >=128   {timed(lambda: FrameFolderReader(128).read(folder, idx)):7.1f} ms")
    print(f"  mp4 decode up to the last frame   {timed(lambda: VideoFileReader().read(video, idx)):7.1f} ms")
    clip = torch.from_numpy(np.stack(FrameFolderReader().read(folder, idx))).permute(0, 3, 1, 2)
    gen = torch.Generator().manual_seed(0)
    for size in (112, 224):
        base = TrainTransform(size=size, jitter_p=0.0, gray_p=0.0)
        full = TrainTransform(size=size, jitter_p=1.0)
        print(f"  train transform {size}px, no jitter  {timed(lambda b=base: b(clip, gen)):7.1f} ms")
        print(f"  train transform {size}px, jitter     {timed(lambda f=full: f(clip, gen)):7.1f} ms")
        small = base(clip, gen).clamp(0, 1).mul(255).to(torch.uint8)

        def torchvision_per_frame(x: torch.Tensor = small) -> None:
            p = sample_jitter(len(x), gen, 0.4, 0.4, 0.2, 0.1)
            ops = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
            for i, frame in enumerate(x):
                for op in p.order[i].tolist():
                    frame = ops[op](frame, float((p.brightness, p.contrast, p.saturation, p.hue)[op][i]))

        print(f"    (jitter alone, torchvision per frame: {timed(torchvision_per_frame):.1f} ms)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clips", type=int, default=16)
    ap.add_argument("--frames", type=int, default=48, help="frames per clip on disk")
    ap.add_argument("--source", type=int, default=224, help="side of the square source frames")
    ap.add_argument("--sizes", type=int, nargs="+", default=[112, 224])
    ap.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--mode", default="train", choices=("train", "test"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads of the main process (workers always use 1, as PyTorch sets them)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as root:
        t0 = time.perf_counter()
        lf, lv = make_data(root, args.clips, args.frames, args.source)
        print(f"{args.clips} clips x {args.frames} frames of {args.source}px written in "
              f"{time.perf_counter() - t0:.1f}s; {args.mode} mode, T=16, batch 4, {os.cpu_count()} CPUs")
        print(f"{'media':<8}{'size':>6}{'workers':>9}{'clips/s':>10}")
        for media, lst in (("frames", lf), ("mp4", lv)):
            for size in args.sizes:
                for w in args.workers:
                    rate = clips_per_second(lst, root, size, w, args.mode, args.epochs)
                    print(f"{media:<8}{size:>6}{w:>9}{rate:>10.1f}", flush=True)
        if args.profile:
            profile(root, args.frames, args.source)


if __name__ == "__main__":
    main()
