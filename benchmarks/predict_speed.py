"""Speed and memory of ``dkclip predict`` on a long video, stage by stage.

    python benchmarks/predict_speed.py [--seconds 60] [--long-seconds 240] [--models dkclip-tiny dkclip-vit-b-16]
                                       [--threads 1] [--work runs/predict-speed]

A 640×360, 30 fps synthetic scene with one face (``dkclip.synth.scenes``, rendered and encoded frame by frame)
is predicted with the default settings of ``dkclip predict`` (MTCNN every 5th frame, 2 s windows every 1 s),
once per model, each in a fresh process. The stages are timed where they run:

- decode: PyAV decoding and conversion to RGB (the source's iterator);
- detect: MTCNN on the detection frames;
- track + crop: everything else in the streaming half (linking, interpolation, square crops, windows);
- model: the eval transform of each window and the forward pass;

and the whole prediction (file open to result tables). Each is printed in wall-clock seconds and in CPU
seconds of the process (on a shared machine the wall clock includes waiting for the CPU; the CPU time is what
the work costs), and as the multiple of real time it allows (video seconds / processing seconds: 2.0× means a
minute of video in 30 s; the stages run one after the other, so the whole is about the inverse of the sum of
the inverses). Peak memory is the child process's peak RSS; the same model runs on the ``--seconds`` video and
on the ``--long-seconds`` one, whose peak must be the same if decoding streams. dkclip-tiny uses the shipped
weights; the others are randomly initialised (speed does not depend on the weights).

Goal (issue 10): dkclip-tiny end to end at least 1.0× real time on the 2-core CPU; memory flat in video length.
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
    predictor = Predictor(model, device="cpu", detector_options=options)
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
    everything = Clock()
    started = everything.start()
    with open_source(args.video) as src:
        result = predictor.predict(TimedSource(src))
    everything.stop(started)
    whole = everything.seconds
    video_seconds = float(result.video["duration"])
    rest = whole - decode.seconds - detect.seconds - run_model.seconds
    rest_cpu = everything.cpu - decode.cpu - detect.cpu - run_model.cpu
    return {"model": args.model, "min_face_size": predictor.detector.min_face_size,  # type: ignore[attr-defined]
            "video": args.video, "video_seconds": video_seconds,
            "frames": int(result.video["frames"]), "windows": len(result.windows), "faces": result.num_faces,
            "threads": args.threads, "decode": decode.seconds, "detect": detect.seconds, "track_crop": rest,
            "model_s": run_model.seconds, "whole": whole,
            "cpu": {"decode": decode.cpu, "detect": detect.cpu, "track_crop": rest_cpu, "model_s": run_model.cpu,
                    "whole": everything.cpu},
            "load_average": os.getloadavg()[0],
            "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "rss_mib_every_30s": rss_samples}


def run_child(video: Path, model: str, threads: int, min_face_size: int | None = None) -> dict[str, Any]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    extra = ["--min-face-size", str(min_face_size)] if min_face_size else []
    proc = subprocess.run([sys.executable, __file__, "--child", "--video", str(video), "--model", model,
                           "--threads", str(threads), *extra], capture_output=True, text=True, env=env,
                          check=False)
    if proc.returncode != 0:
        raise SystemExit(f"child failed for {model} on {video}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def rows(results: list[dict[str, Any]], cpu: bool = False) -> str:
    """The table: wall-clock seconds per stage (or, ``cpu``, the process's CPU seconds) and the multiple of
    real time each allows."""
    out = ["| model (min face) | video | decode | detect | track + crop | model | whole | peak RSS |",
           "|---|---|---|---|---|---|---|---|"]
    for r in results:
        v = r["video_seconds"]
        times = r["cpu"] if cpu else r

        def cell(key: str, v: float = v, times: dict[str, Any] = times) -> str:
            return f"{times[key]:.1f} s ({v / max(times[key], 1e-9):.1f}×)"

        out.append(f"| {r['model']} ({r['min_face_size']} px) | {v:.0f} s, {r['frames']} frames, "
                   f"{r['windows']} windows | {cell('decode')} | "
                   f"{cell('detect')} | {cell('track_crop')} | {cell('model_s')} | **{cell('whole')}** | "
                   f"{r['peak_rss_mib']:.0f} MiB |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=60.0, help="length of the main video (default 60 s)")
    p.add_argument("--long-seconds", type=float, default=240.0,
                   help="length of the memory check video, predicted with the first model (default 240 s; 0: skip)")
    p.add_argument("--models", nargs="+", default=["dkclip-tiny", "dkclip-vit-b-16"])
    p.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1)")
    p.add_argument("--min-face-size", type=int, default=None, help="MTCNN's (default: dkclip predict's)")
    p.add_argument("--work", default="runs/predict-speed", help="where the videos are written (reused)")
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--video", help=argparse.SUPPRESS)
    p.add_argument("--model", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    if args.child:
        print(json.dumps(child(args)))
        return 0
    work = Path(args.work)
    video = make_video(work / f"scene_{args.seconds:g}s.mp4", args.seconds)
    results = [run_child(video, m, args.threads, args.min_face_size) for m in args.models]
    if args.long_seconds:
        long_video = make_video(work / f"scene_{args.long_seconds:g}s.mp4", args.long_seconds)
        results.append(run_child(long_video, args.models[0], args.threads, args.min_face_size))
    for r in results:
        print(json.dumps(r))
    print("wall clock:")
    print(rows(results))
    print("CPU time of the process (what the stages cost on an otherwise idle machine):")
    print(rows(results, cpu=True))
    if args.long_seconds:
        short, long = results[0], results[-1]
        print(f"peak RSS {long['video_seconds']:.0f} s / {short['video_seconds']:.0f} s of video: "
              f"{long['peak_rss_mib']:.0f} / {short['peak_rss_mib']:.0f} MiB = "
              f"{long['peak_rss_mib'] / short['peak_rss_mib']:.3f}")
        print(f"RSS every 30 s of the {long['video_seconds']:.0f} s video (MiB): {long['rss_mib_every_30s']}")
    print(f"load average during the run: {os.getloadavg()[0]:.2f} (1 min)")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
