"""The ONNX video model: ``dkclip export --onnx`` writes it and checks it against PyTorch; ``load_model(...,
onnx=True)`` runs it with ONNX Runtime, any batch size, with the model's config and AU phrases."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import dkclip
from dkclip.cli import main as cli_main
from dkclip.errors import CheckpointError
from dkclip.model.au_evidence import AUEvidence
from dkclip.model.onnx import VIDEO_OUTPUTS, OnnxModel


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[dkclip.DKClip, Path]:
    """A random dkclip-tiny (T = 8 at test time, to keep it small) saved, then exported by the command."""
    torch.manual_seed(0)
    model = dkclip.create_model("dkclip-tiny", eval_num_frames=8).eval()
    root = tmp_path_factory.mktemp("onnx")
    dkclip.save_model(model, root / "saved")
    assert cli_main(["export", str(root / "saved"), "--out", str(root / "export"), "--onnx"]) == 0
    return model, root / "export" / "model.onnx"


def test_export_reports_the_difference_and_loads(exported: tuple[dkclip.DKClip, Path],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    model, path = exported
    assert path.is_file() and (path.parent / "model.safetensors").is_file()
    loaded = dkclip.load_model(path, onnx=True)
    assert isinstance(loaded, OnnxModel) and loaded.config.to_json() == model.config.to_json()
    with pytest.raises(CheckpointError, match="ONNX video model"):
        dkclip.load_model(path)  # a PyTorch model is expected without onnx=True


@pytest.mark.parametrize("batch", [1, 3])
def test_onnx_outputs_equal_pytorch_at_any_batch(exported: tuple[dkclip.DKClip, Path], batch: int) -> None:
    model, path = exported
    video = torch.randn(batch, 8, 3, 112, 112)
    with torch.no_grad():
        reference = model(video)
    ours = OnnxModel(path)(video)
    assert torch.equal(ours.kept, reference.kept)
    # ONNX Runtime rounds differently (~1e-6 on embeddings); logits are 100·cos, and the NRM's min-max scaling
    # of near-equal similarities (random weights) magnifies differences in a* and the fused logits.
    tolerance = {"video_embedding": 1e-5, "snippet_embeddings": 1e-5, "text_features": 1e-5, "snippet_scores": 1e-4}
    for name in VIDEO_OUTPUTS:
        if name != "kept":
            diff = (getattr(ours, name) - getattr(reference, name)).abs().max()
            assert diff < tolerance.get(name, 1e-3), (name, diff)
    with pytest.raises(ValueError, match="expects a video of shape"):
        OnnxModel(path)(torch.zeros(1, 16, 3, 112, 112))


def test_onnx_model_carries_the_au_phrases(exported: tuple[dkclip.DKClip, Path]) -> None:
    model, path = exported
    stored, fresh = OnnxModel(path).au_evidence(), AUEvidence.from_model(model)
    assert stored.aus == fresh.aus
    assert torch.allclose(stored.au_text, fresh.au_text, atol=1e-6)


def test_not_a_dkclip_onnx_file(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save_model(helper.make_model(graph), str(tmp_path / "other.onnx"))
    with pytest.raises(CheckpointError, match="not a DK-CLIP video model"):
        OnnxModel(tmp_path / "other.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(CheckpointError, match="not a readable ONNX model"):
        dkclip.load_model(tmp_path / "junk.onnx", onnx=True)
