"""``--runtime torch | torch-int8 | onnx`` and ``--model FILE.onnx`` in the predictor: same windows as PyTorch
(ONNX within rounding, int8 approximately), the cache on every snippet runtime, refusals in plain words."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from predict_helpers import BlobDetector, ListSource, moving_box, scene_frame, tiny_model, write_scene_video

from dkclip.cli import main as cli_main
from dkclip.errors import UsageError
from dkclip.predict import Predictor

pytest.importorskip("onnxruntime")


def _source() -> ListSource:
    return ListSource(lambda i: scene_frame([moving_box(i)], 96, 128, i), np.arange(80) / 25.0)


def _windows(**options: object):  # type: ignore[no-untyped-def]
    predictor = Predictor(options.pop("model", tiny_model()), detector=BlobDetector(), detect_every=2,
                          **options)  # type: ignore[arg-type]
    return predictor, predictor.predict(_source())


@pytest.fixture(scope="module")
def torch_result():  # type: ignore[no-untyped-def]
    return _windows()[1]


def _probs(result) -> np.ndarray:  # type: ignore[no-untyped-def]
    return result.windows[result.class_names].to_numpy()


def test_onnx_runtime_equals_torch(torch_result) -> None:  # type: ignore[no-untyped-def]
    predictor, result = _windows(runtime="onnx")
    assert predictor.runner.cache is not None and predictor.runner.cache.hits > 0
    assert result.settings["runtime"] == "onnx"
    np.testing.assert_allclose(_probs(result), _probs(torch_result), atol=1e-4)
    assert (result.windows["label"] == torch_result.windows["label"]).all()


def test_int8_runtime_is_close_and_leaves_the_model_alone(torch_result) -> None:  # type: ignore[no-untyped-def]
    model = tiny_model()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    predictor, result = _windows(runtime="torch-int8")
    assert predictor.runner.cache is not None
    assert result.settings["runtime"] == "torch-int8"  # windows.json said "torch" for int8 runs before
    assert np.abs(_probs(result) - _probs(torch_result)).max() < 0.1
    after = model.state_dict()
    assert before.keys() == after.keys() and all(before[k].equal(after[k]) for k in before)  # a quantised copy


def test_onnx_model_file_predicts(tmp_path: Path, torch_result) -> None:  # type: ignore[no-untyped-def]
    import dkclip
    from dkclip.model.onnx import export_video_model

    path = tmp_path / "model.onnx"
    export_video_model(tiny_model(), path)  # type: ignore[arg-type]
    predictor, result = _windows(model=str(path))
    assert predictor.runner.cache is None and result.settings["runtime"] == "onnx"
    np.testing.assert_allclose(_probs(result), _probs(torch_result), atol=1e-4)
    np.testing.assert_allclose(result.windows["AU12"], torch_result.windows["AU12"], atol=1e-4)
    with pytest.raises(UsageError, match="ONNX model"):
        Predictor(dkclip.load_model(path, onnx=True), detector=BlobDetector(), runtime="torch-int8")
    # The command line: --model FILE.onnx.
    video = write_scene_video(tmp_path / "v.mp4", lambda i: [moving_box(i)], 60)
    assert cli_main(["predict", video, "--model", str(path), "--detector", "none", "--quiet",
                     "--out", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "windows.csv").is_file()


def test_unknown_runtime_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="runtime must be one of"):
        Predictor(tiny_model(), detector=BlobDetector(), runtime="tensorrt")


def test_an_export_folder_named_dot_onnx_is_a_pytorch_export(tmp_path: Path) -> None:
    """`dkclip export --out model.onnx` makes a folder of that name: it loads as the export it is (it was
    taken for an ONNX file and reported as 'model not found')."""
    import dkclip
    from dkclip.factory import is_onnx_file

    folder = dkclip.save_model(tiny_model(), tmp_path / "model.onnx")
    assert folder.is_dir() and not is_onnx_file(folder) and is_onnx_file(tmp_path / "missing.onnx")
    assert isinstance(dkclip.load_model(folder, onnx=True), dkclip.DKClip)
    assert Predictor(folder, detector="none").runtime == "torch"
