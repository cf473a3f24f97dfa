"""benchmarks/gpu.py runs on the CPU at small sizes (the GPU run is the same code at the paper's sizes)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_benchmark_cpu_smoke(capsys: pytest.CaptureFixture[str]) -> None:
    spec = importlib.util.spec_from_file_location("gpu_benchmark", ROOT / "benchmarks" / "gpu.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    results = module.main(["--device", "cpu", "--small", "--compile", "off"])
    train = results["training"]["eager"]
    assert results["training"]["flops_per_step"] > 0 and train["clips_per_s"] > 0 and train["mfu"] is None
    assert results["predict"]["sampled_frames_per_s"] > 0 and results["predict"]["windows_per_batch"] == 1
    out = capsys.readouterr().out
    assert "clips/s" in out and "sampled frames/s" in out
