"""Each snippet encoded once: encode_snippets + integrate equal forward, the predictor's cached windows equal its
uncached ones, shared snippets sample the same frames, and the cache stays bounded."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from predict_helpers import BlobDetector, ListSource, moving_box, scene_frame, tiny_model

import dkclip
from dkclip.predict import Predictor
from dkclip.predict.crops import Cropper
from dkclip.predict.pipeline import WindowStream, run_stream
from dkclip.predict.snippet_cache import SnippetCache
from dkclip.predict.windows import segment_centres, snippet_grid_centres

TOL = 1e-5


def _overlapping_windows(model: dkclip.DKClip, frames: int, windows: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """``windows`` clips of T = ``frames``, each starting N/2 snippets after the previous one (a 1 s stride of
    2 s windows): the snippets (S, F, 3, H, W) and each window's snippet indices (B, N)."""
    n = model.config.num_snippets
    size = model.config.image_size
    step = max(1, n // 2)
    total = n + step * (windows - 1)
    snippets = torch.randn(total, frames // n, 3, size, size, generator=torch.Generator().manual_seed(1))
    index = torch.stack([torch.arange(w * step, w * step + n) for w in range(windows)])
    return snippets, index


def _assert_split_equals_forward(model: dkclip.DKClip, frames: int, windows: int = 2, tol: float = TOL) -> None:
    snippets, index = _overlapping_windows(model, frames, windows)
    video = snippets[index].flatten(1, 2)  # (B, T, 3, H, W): each window's snippets in order
    with torch.no_grad():
        reference = model(video)
        cached = model.integrate(model.encode_snippets(snippets)[index])
    assert torch.equal(reference.kept, cached.kept)
    for name, value in reference.to_dict().items():
        if value is None or value.dtype == torch.bool:
            continue
        diff = (value - getattr(cached, name)).abs().max().item()
        assert diff <= tol, f"{name}: {diff}"


@pytest.mark.parametrize("options", [{}, {"cmam_visual_source": "visual_semantic"}, {"use_cmam": False},
                                     {"fuse_level": "prob", "use_nrm": False}])
def test_tiny_snippet_encoding_equals_forward(options: dict) -> None:
    torch.manual_seed(0)
    model = dkclip.create_model("dkclip-tiny", **options).eval()
    _assert_split_equals_forward(model, frames=8, windows=3)


def test_tiny_avgpool_snippet_encoding_is_close() -> None:
    """Average pooling's video feature is the mean of T frames in forward and of N snippet means here (2e-7
    apart); the NRM's min-max scaling of near-equal similarities (random CLIP) magnifies that to ~1e-5 in a*."""
    torch.manual_seed(0)
    model = dkclip.create_model("dkclip-tiny", temporal="avgpool").eval()
    _assert_split_equals_forward(model, frames=8, windows=3, tol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("source", ["cfam_patches", "visual_semantic"])
def test_vit_b16_snippet_encoding_equals_forward(source: str) -> None:
    torch.manual_seed(0)
    model = dkclip.create_model("dkclip-vit-b-16", cmam_visual_source=source).eval()
    _assert_split_equals_forward(model, frames=8, windows=1)  # one window of 4 snippets of 2 frames


def test_frame_mixing_modes_refuse_snippet_encoding() -> None:
    model = dkclip.create_model("dkclip-tiny", temporal="cross_frame", num_frames=8).eval()
    assert not model.supports_snippet_encoding
    with pytest.raises(ValueError, match="across snippets"):
        model.encode_snippets(torch.zeros(4, 2, 3, 112, 112))
    assert Predictor(model, detector="none", aus=False).runner.cache is None  # runs whole windows


def test_grid_centres_are_the_segment_centres() -> None:
    centres = snippet_grid_centres(0.3, 1.3, 3.3, 16, 4)
    assert centres is not None
    np.testing.assert_allclose(centres, segment_centres(1.3, 3.3, 16), atol=1e-12)
    assert snippet_grid_centres(0.3, 1.05, 3.05, 16, 4) is None  # off the grid (0.75 s into the track / 0.5 s)
    # Two windows sharing a snippet compute its centres to the same bits.
    a, b = snippet_grid_centres(0.0, 1.0, 3.0, 16, 4), snippet_grid_centres(0.0, 1.5, 3.5, 16, 4)
    assert a is not None and b is not None and np.array_equal(a[4:], b[:12])


@pytest.mark.parametrize("fps", [25.0, 30000 / 1001])
def test_aligned_sampling_keeps_the_sampled_frames(fps: float) -> None:
    """Windows on the snippet grid sample the frames the window-local sampling sampled (so windows.csv is
    unchanged), and windows that share a snippet sample the same frames for it."""
    times = np.arange(int(7 * fps)) / fps
    frames = [scene_frame([moving_box(i, vx=0.2)], 96, 128, i) for i in range(len(times))]

    def jobs(snippets: int, stride: float) -> list:
        stream = WindowStream(BlobDetector(), Cropper(32), num_frames=16, window=2.0, stride=stride, detect_every=5,
                              num_snippets=snippets)
        return run_stream(stream, list(ListSource(lambda i: frames[i], times)))

    for stride in (1.0, 0.5):
        aligned, local = jobs(4, stride), jobs(1, stride)
        assert [j.sample_frames.tolist() for j in aligned] == [j.sample_frames.tolist() for j in local]
        shift = round(stride / 0.5) * 4  # sampled frames per stride
        grid = [j for j in aligned if abs((j.start_time - aligned[0].start_time) / stride % 1) < 1e-6]
        for first, second in itertools.pairwise(grid):
            assert first.sample_frames[shift:].tolist() == second.sample_frames[:16 - shift].tolist()


def _scene(i: int) -> np.ndarray:
    faces = [moving_box(i)]
    if 20 <= i < 100:
        faces.append((90, 10, 114, 34))
    return scene_frame(faces, 96, 160, i)


@pytest.mark.parametrize("stride", [1.0, 0.5])
def test_predictor_outputs_equal_with_and_without_the_cache(stride: float) -> None:
    times = np.arange(110) / 25.0
    results = {}
    encoded = {}
    for cache in (True, False):
        predictor = Predictor(tiny_model(), detector=BlobDetector(), stride=stride, detect_every=2, batch_size=3)
        if not cache:
            predictor.runner.cache = None
        results[cache] = predictor.predict(ListSource(_scene, times))
        if predictor.runner.cache is not None:
            encoded[cache] = predictor.runner.cache.misses, predictor.runner.cache.hits
    cached, naive = results[True].windows, results[False].windows
    assert len(cached) == len(naive) > 4 and results[True].num_faces == 2
    numeric = [c for c in naive.columns if naive[c].dtype.kind == "f"]
    np.testing.assert_allclose(cached[numeric].to_numpy(), naive[numeric].to_numpy(), atol=TOL, equal_nan=True)
    assert (cached["label"] == naive["label"]).all()
    misses, hits = encoded[True]
    assert hits > 0 and misses + hits == 4 * len(cached)
    assert hits >= len(cached) if stride == 0.5 else hits >= len(cached) // 2


def test_cache_is_bounded_and_per_stream() -> None:
    predictor = Predictor(tiny_model(), detector=BlobDetector(), stride=0.5, detect_every=5, aus=False)
    cache = predictor.runner.cache
    assert isinstance(cache, SnippetCache)
    seen = []
    predictor.predict(ListSource(lambda i: scene_frame([moving_box(i, vx=0.1)], 96, 128, i), np.arange(200) / 25.0),
                      on_window=lambda r, info: seen.append(len(cache)))
    assert max(seen) <= 5  # one window of snippets (4) plus the next one's new snippet, then released
    assert len(cache) == 0  # the track's last window released everything
