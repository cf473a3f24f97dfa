"""Speed and memory of ``dkclip predict`` on a long video: naive vs snippet cache vs each runtime, stage by stage.

    python benchmarks/predict_speed.py [--seconds 60] [--b16-seconds 20] [--long-seconds 240]
                                       [--models dkclip-tiny dkclip-vit-b-16] [--threads 1] [--work runs/predict-speed]

A 640×360, 30 fps synthetic scene with one face (``dkclip.synth.scenes``, rendered and encoded frame by frame)
is predicted with the default settings of ``dkclip predict`` (MTCNN every 5th frame, 2 s windows every 1 s),
once per model and path, each in a fresh process:

- ``naive``: every window's T frames through the whole model (the predictor before the snippet cache);
- ``cache``: each snippet encoded once (the default: ``--runtime torch``), also at a 0.5 s stride;
- ``cache+int8``, ``cache+onnx``: the same on ``--runtime torch-int8`` and ``--runtime onnx``;
- ``nodetect``: dkclip-tiny with ``--detector none`` (video that already is face crops), where MTCNN is most of
  the cost otherwise.

The stages are timed where they run:

- decode: PyAV decoding and conversion to RGB (the source's iterator);
- detect: MTCNN on the detection frames;
- track + crop: everything else in the streaming half (linking, interpolation, square crops, windows);
- model: the eval transform of each window's new frames and the model;
- start-up: building the predictor (the AU phrases, the int8 copy, the ONNX export), counted in "whole";

and the whole prediction (file open to result tables). Times are CPU seconds of the process (on a shared
machine the wall clock includes waiting for the CPU; the CPU time is what the work costs), and the multiple of
real time they allow (video seconds / CPU seconds: 2.0× means a minute of video in 30 s of one core; with
``--threads 2`` the CPU time is summed over both cores). Each path is also given as a ratio to the naive path of
the same model. Peak memory is the child's peak RSS; with ``--long-seconds`` the cached tiny model also runs on a
longer video, whose peak must be the same if memory is flat in video length. dkclip-tiny uses the shipped
weights; the others are randomly initialised (speed does not depend on the weights). The ViT-B/16 paths run on
the ``--b16-seconds`` video (a shorter one: the naive path costs ~7 s of CPU per second of video).

Goals (issue 18): ViT-B/16 at least 0.5× real time, dkclip-tiny at least 8× real time, memory flat in length.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

FPS = 30
WIDTH, HEIGHT = 640, 360


def make_video(path: Path, seconds: float, seed: int = 0) -> Path:
    """A one-face scene of ``seconds`` at 30 fps, reused when it exists."""
    from dkclip.synth.scenes import SceneSpec, write_scene_mp4

    if path.is_file():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    spec = SceneSpec(scene_id=path.stem, seed=seed, index=0, width=WIDTH, height=HEIGHT, fps=FPS,
                     num_frames=round(seconds * FPS), num_faces=1, enter_leave=0.0, expressions=(4, 12))
    tmp = path.with_suffix(".part.mp4")
    write_scene_mp4(spec, tmp)
    os.replace(tmp, path)
    return path


RSS_EVERY = 30.0  # seconds of video between two samples of the resident memory


def current_rss_mib() -> float:
    """This process's resident memory now (Linux), in MiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class Clock:
    """Accumulates the wall time and the process CPU time spent inside wrapped calls."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.cpu = 0.0

    def start(self) -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def stop(self, started: tuple[float, float]) -> None:
        self.seconds += time.perf_counter() - started[0]
        self.cpu += time.process_time() - started[1]

    def wrap(self, fn: Any) -> Any:
        def timed(*args: Any, **kwargs: Any) -> Any:
            started = self.start()
            try:
                return fn(*args, **kwargs)
            finally:
                self.stop(started)
        return timed


def child(args: argparse.Namespace) -> dict[str, Any]:
    """Predict one video with one model in this process; report stage times and peak RSS."""
    import torch

    torch.set_num_threads(args.threads)
    import dkclip
    from dkclip.predict import Predictor
    from dkclip.predict.models import default_model
    from dkclip.predict.sources import FrameSource, open_source

    if args.model == "dkclip-tiny":
        model = default_model()
    else:
        torch.manual_seed(0)
        model = dkclip.create_model(args.model).eval()
    options = {"min_face_size": args.min_face_size} if args.min_face_size else {}
    everything, startup = Clock(), Clock()
    started = everything.start()  # start-up of the runtime (int8 copy, ONNX export) counts in "whole"
    begun = startup.start()
    predictor = Predictor(model, device="cpu", detector=args.detector, detector_options=options,
                          runtime=args.runtime, stride=args.stride)
    startup.stop(begun)
    if args.naive:
        predictor.runner.cache = None
    cache = predictor.runner.cache
    detect, run_model, decode = Clock(), Clock(), Clock()
    predictor.detector.detect = detect.wrap(predictor.detector.detect)  # type: ignore[method-assign]
    runner = predictor.runner
    timed_runner = run_model.wrap(runner)

    class TimedRunner:
        def __call__(self, jobs: Any) -> Any:
            return timed_runner(jobs)

    predictor.runner = TimedRunner()  # type: ignore[assignment]

    class TimedSource(FrameSource):
        def __init__(self, inner: FrameSource) -> None:
            super().__init__(inner.info)
            self.inner = inner

        def __iter__(self) -> Iterator[Any]:
            it = iter(self.inner)
            while True:
                started = decode.start()
                try:
                    frame = next(it)
                except StopIteration:
                    decode.stop(started)
                    return
                decode.stop(started)
                if frame.time >= len(rss_samples) * RSS_EVERY:
                    rss_samples.append(round(current_rss_mib()))
                yield frame

        def close(self) -> None:
            self.inner.close()

    rss_samples: list[int] = []  # RSS when the video reaches 0, 30, 60, ... s
    with open_source(args.video) as src:
        result = predictor.predict(TimedSource(src))
    everything.stop(started)
    whole = everything.seconds
    video_seconds = float(result.video["duration"])
    rest = whole - decode.seconds - detect.seconds - run_model.seconds - startup.seconds
    rest_cpu = everything.cpu - decode.cpu - detect.cpu - run_model.cpu - startup.cpu
    path = "naive" if args.naive else "cache" + ("" if args.runtime == "torch" else f"+{args.runtime.split('-')[-1]}")
    path += ", no detector" if args.detector == "none" else ""
    return {"model": args.model, "min_face_size": getattr(predictor.detector, "min_face_size", None),
            "path": path, "runtime": args.runtime, "stride": args.stride,
            "snippets_encoded": cache.misses if cache is not None else 4 * len(result.windows),
            "video": args.video, "video_seconds": video_seconds,
            "frames": int(result.video["frames"]), "windows": len(result.windows), "faces": result.num_faces,
            "threads": args.threads, "decode": decode.seconds, "detect": detect.seconds, "track_crop": rest,
            "model_s": run_model.seconds, "whole": whole,
            "startup": startup.seconds,
            "cpu": {"decode": decode.cpu, "detect": detect.cpu, "track_crop": rest_cpu, "model_s": run_model.cpu,
                    "startup": startup.cpu, "whole": everything.cpu},
            "load_average": os.getloadavg()[0],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_mib_every_30s": rss_samples}


def run_child(video: Path, model: str, threads: int, min_face_size: int | None = None, naive: bool = False,
              runtime: str = "torch", stride: float = 1.0, detector: str = "mtcnn") -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    extra = ["--min-face-size", str(min_face_size)] if min_face_size else []
    extra += ["--naive"] if naive else []
    extra += ["--runtime", runtime, "--stride", str(stride), "--detector", detector]
    proc = subprocess.run([sys.executable, __file__, "--child", "--video", str(video), "--model", model,
                           "--threads", str(threads), *extra], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed for {model} on {video}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rows(results: list[dict[str, Any]]) -> str:
    """The table: CPU seconds per stage, the multiple of real time each allows, and the ratios to the naive path
    of the same model and video."""
    out = ["| model | path | stride | video | snippets encoded | start-up | decode | detect | track + crop | model "
           "| **whole** | model / naive | whole / naive | peak RSS |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    naive = {(r["model"], r["video"]): r for r in results if r["path"] == "naive"}
    for r in results:
        v = r["video_seconds"]
        times = r["cpu"]

        def cell(key: str, v: float = v, times: dict[str, Any] = times) -> str:
            return f"{times[key]:.1f} s ({v / max(times[key], 1e-9):.2f}×)"

        base = naive.get((r["model"], r["video"]))

        def ratio(key: str, r: dict[str, Any] = r, base: dict[str, Any] | None = base) -> str:
            return f"{r['cpu'][key] / base['cpu'][key]:.2f}" if base else "–"

        out.append(f"| {r['model']} | {r['path']} | {r['stride']:g} s | {v:.0f} s, {r['windows']} windows | "
                   f"{r['snippets_encoded']} | {times['startup']:.1f} s | {cell('decode')} | {cell('detect')} | "
                   f"{cell('track_crop')} | "
                   f"{cell('model_s')} | **{cell('whole')}** | {ratio('model_s')} | {ratio('whole')} | "
                   f"{r['peak_rss_mib']:.0f} MiB |")
    return "\n".join(out)


# (name, naive, runtime, stride, detector); "nodetect": dkclip-tiny only, where MTCNN is most of the cost.
PATHS: tuple[tuple[str, bool, str, float, str], ...] = (
    ("naive", True, "torch", 1.0, "mtcnn"), ("cache", False, "torch", 1.0, "mtcnn"),
    ("cache", False, "torch", 0.5, "mtcnn"), ("cache+int8", False, "torch-int8", 1.0, "mtcnn"),
    ("cache+onnx", False, "onnx", 1.0, "mtcnn"), ("nodetect", False, "torch", 1.0, "none"),
    ("nodetect+int8", False, "torch-int8", 1.0, "none"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the dkclip-tiny video (default 60 s)")
    p.add_argument("--b16-seconds", type=float, default=20.0,
                   help="length of the video of the other models (default 20 s)")
    p.add_argument("--long-seconds", type=float, default=240.0,
                   help="length of the memory check video, predicted with the first model's cache path (default 240 s; "
                        "0: skip)")
    p.add_argument("--models", nargs="+", default=["dkclip-tiny", "dkclip-vit-b-16"])
    p.add_argument("--paths", nargs="+", default=None, metavar="PATH",
                   help="only these paths: naive, cache, cache@0.5 (0.5 s stride), cache+int8, cache+onnx, nodetect, "
                        "nodetect+int8 (--detector none; dkclip-tiny only)")
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    p.add_argument("--min-face-size", type=int, default=None, help="MTCNN's (default: dkclip predict's)")
    p.add_argument("--work", default="runs/predict-speed", help="where the videos are written (reused)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--naive", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--runtime", default="torch", help=argparse.SUPPRESS)
    p.add_argument("--stride", type=float, default=1.0, help=argparse.SUPPRESS)
    p.add_argument("--detector", default="mtcnn", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    work = Path(args.work)
    paths = [c for c in PATHS if args.paths is None
             or (c[0] if c[3] == 1.0 else f"{c[0]}@{c[3]:g}") in args.paths]
    results = []
    for model in args.models:
        seconds = args.seconds if model == "dkclip-tiny" else args.b16_seconds
        video = make_video(work / f"scene_{seconds:g}s.mp4", seconds)
        for _, naive, runtime, stride, detector in paths:
            if detector == "none" and model != "dkclip-tiny":
                continue
            results.append(run_child(video, model, args.threads, args.min_face_size, naive, runtime, stride,
                                     detector))
            print(json.dumps(results[-1]), flush=True)
    if args.long_seconds:
        long_video = make_video(work / f"scene_{args.long_seconds:g}s.mp4", args.long_seconds)
        results.append(run_child(long_video, args.models[0], args.threads, args.min_face_size))
        print(json.dumps(results[-1]), flush=True)
    print(f"CPU time of the process ({args.threads} torch thread(s); what the stages cost on an idle machine):")
    print(rows(results))
    if args.long_seconds:
        long = results[-1]
        short = next((r for r in results if r["model"] == long["model"] and r["path"] == "cache"
                      and r["stride"] == 1.0 and r["video"] != long["video"]), None)
        if short is not None:
            print(f"peak RSS {long['video_seconds']:.0f} s / {short['video_seconds']:.0f} s of video (cache path): "
                  f"{long['peak_rss_mib']:.0f} / {short['peak_rss_mib']:.0f} MiB = "
                  f"{long['peak_rss_mib'] / short['peak_rss_mib']:.3f}")
        print(f"RSS every 30 s of the {long['video_seconds']:.0f} s video (MiB): {long['rss_mib_every_30s']}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (1 min)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
