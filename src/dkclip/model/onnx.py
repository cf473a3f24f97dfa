"""DK-CLIP in ONNX: the video model as one portable file, and the snippet encoder for ``--runtime onnx``.

- :func:`export_video_model` writes the video model (frames (B, T, 3, S, S) -> logits, local logits, fused local
  logits, snippet scores, kept, the video and snippet embeddings (the AU evidence's input) and the class
  features), batch dynamic, T fixed to the model's test T. The file carries the model config and the AU
  phrases' text features in its metadata, so that :class:`OnnxModel` predicts (with AU evidence) without the
  PyTorch weights.
- :func:`snippet_encoder_bytes`: :meth:`DKClip.encode_snippets` as an in-memory ONNX graph (snippets dynamic),
  for the predictor's ONNX runtime (:mod:`dkclip.predict.runtime`).

Export uses PyTorch's TorchScript-based exporter (opset 17), which needs nothing beyond ``onnx``; running needs
``onnxruntime`` (``pip install onnx onnxruntime``).
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from ..config import DKClipConfig
from ..errors import CheckpointError, UsageError
from .dkclip import DKClip, DKClipOutput, SnippetFeatures

if TYPE_CHECKING:
    from .au_evidence import AUEvidence

OPSET = 17
FORMAT = "dkclip-onnx-video/1"
VIDEO_OUTPUTS = ("logits", "local_logits", "fused_local_logits", "snippet_scores", "kept", "video_embedding",
                 "snippet_embeddings", "text_features")


def _require(module: str) -> Any:
    try:
        return __import__(module)
    except ImportError:
        raise UsageError(f"ONNX needs the {module} package, which is not installed",
                         hint="pip install onnx onnxruntime") from None


class _VideoGraph(nn.Module):
    def __init__(self, model: DKClip) -> None:
        super().__init__()
        self.model = model

    def forward(self, frames: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.model(frames)
        return tuple(getattr(out, name) for name in VIDEO_OUTPUTS)


class _SnippetGraph(nn.Module):
    def __init__(self, model: DKClip) -> None:
        super().__init__()
        self.model = model

    def forward(self, snippets: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.model.encode_snippets(snippets)
        return (feats.embeddings,) if feats.tokens is None else (feats.embeddings, feats.tokens)


def _export(module: nn.Module, example: torch.Tensor, input_name: str, outputs: tuple[str, ...],
            dynamic: dict[str, dict[int, str]]) -> bytes:
    _require("onnx")
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(), torch.no_grad():
        # The TorchScript exporter is deprecated in favour of torch.export's, which needs onnxscript as well.
        warnings.simplefilter("ignore")
        path = Path(tmp) / "graph.onnx"
        torch.onnx.export(module.eval(), (example,), path, dynamo=False, input_names=[input_name],
                          output_names=list(outputs), dynamic_axes=dynamic, opset_version=OPSET,
                          do_constant_folding=True)
        return path.read_bytes()


def snippet_encoder_bytes(model: DKClip, frames_per_snippet: int) -> tuple[bytes, tuple[str, ...]]:
    """:meth:`DKClip.encode_snippets` as ONNX (input ``snippets`` (S, F, 3, H, W), S dynamic) and its outputs."""
    size = model.config.image_size
    example = torch.randn(2, frames_per_snippet, 3, size, size)
    outputs = ("embeddings",) if model.cmam is None else ("embeddings", "tokens")
    dynamic = {"snippets": {0: "snippets"}, **{name: {0: "snippets"} for name in outputs}}
    return _export(_SnippetGraph(model), example, "snippets", outputs, dynamic), outputs


def export_video_model(model: DKClip, path: str | os.PathLike[str], batch: int = 2) -> float:
    """Write the video model to ``path`` (.onnx) and check it against PyTorch on the same random input of
    ``batch`` clips; returns the largest absolute difference over the float outputs."""
    from .au_evidence import AUEvidence

    onnx = _require("onnx")
    cfg = model.config
    model = model.eval().cpu()
    size, frames = cfg.image_size, cfg.test_num_frames
    example = torch.randn(batch, frames, 3, size, size, generator=torch.Generator().manual_seed(0))
    dynamic = {"frames": {0: "batch"}, **{name: {0: "batch"} for name in VIDEO_OUTPUTS}}
    data = _export(_VideoGraph(model), example, "frames", VIDEO_OUTPUTS, dynamic)
    proto = onnx.load_from_string(data)
    evidence = AUEvidence.from_model(model)
    meta = {"dkclip.format": FORMAT, "dkclip.config": cfg.to_json(),
            "dkclip.au_text": json.dumps({"aus": list(evidence.aus), "au_text": evidence.au_text.tolist(),
                                          "neutral_text": evidence.neutral_text.tolist()})}
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".part")
    try:
        onnx.save_model(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    with torch.no_grad():
        reference = model(example)
    ours = OnnxModel(path)(example)
    diffs = [float((getattr(reference, n).float() - getattr(ours, n).float()).abs().max())
             for n in VIDEO_OUTPUTS if n != "kept"]
    if not torch.equal(reference.kept, ours.kept):
        diffs.append(float("inf"))  # an NRM decision that flips is not a rounding difference
    return max(diffs)


def session_options(threads: int | None = None) -> Any:
    ort = _require("onnxruntime")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    options.inter_op_num_threads = 1
    options.log_severity_level = 3  # errors only: ORT's warnings about unused initialisers are noise here
    return options


class OnnxModel:
    """A video model written by :func:`export_video_model`, run with ONNX Runtime on the CPU: called like a
    :class:`DKClip` (video (B, T, 3, S, S) -> :class:`DKClipOutput`, ``visual_tokens`` None), with the model's
    ``config``; no autograd, no PyTorch weights."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        ort = _require("onnxruntime")
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError(f"model not found: {self.path}")
        try:
            self.session = ort.InferenceSession(str(self.path), session_options(), providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for unreadable or invalid files
            raise CheckpointError(f"{self.path}: not a readable ONNX model ({exc})") from None
        meta = self.session.get_modelmeta().custom_metadata_map
        if meta.get("dkclip.format") != FORMAT:
            raise CheckpointError(f"{self.path}: an ONNX file, but not a DK-CLIP video model written by "
                                  "dkclip export --onnx")
        self.config = DKClipConfig.from_json(meta["dkclip.config"])
        self._au = json.loads(meta["dkclip.au_text"])
        self.device = torch.device("cpu")

    def eval(self) -> OnnxModel:
        return self

    def to(self, device: str | torch.device) -> OnnxModel:
        if torch.device(device).type != "cpu":
            raise UsageError(f"{self.path}: ONNX models run on the CPU here (asked for {device})")
        return self

    @property
    def num_classes(self) -> int:
        return len(self.config.prompts)

    def __call__(self, video: torch.Tensor) -> DKClipOutput:
        expected = (self.config.test_num_frames, 3, self.config.image_size, self.config.image_size)
        if video.dim() != 5 or tuple(video.shape[1:]) != expected:
            raise ValueError(f"{self.path.name} expects a video of shape (B, {', '.join(map(str, expected))}); got "
                             f"{tuple(video.shape)}")
        values = self.session.run(list(VIDEO_OUTPUTS), {"frames": video.detach().float().cpu().numpy()})
        out = {name: torch.from_numpy(np.asarray(v)) for name, v in zip(VIDEO_OUTPUTS, values, strict=True)}
        return DKClipOutput(**out, visual_tokens=None)

    def au_evidence(self) -> AUEvidence:
        """The AU evidence of the exported model (its text tower's phrases, uncalibrated)."""
        from .au_evidence import AUEvidence

        return AUEvidence(tuple(self._au["aus"]), torch.tensor(self._au["au_text"]),
                          torch.tensor(self._au["neutral_text"]))


class OnnxSnippetEncoder:
    """:meth:`DKClip.encode_snippets` run by ONNX Runtime (exported from ``model`` in memory at start-up)."""

    def __init__(self, model: DKClip, frames_per_snippet: int, threads: int | None = None) -> None:
        ort = _require("onnxruntime")
        data, self.outputs = snippet_encoder_bytes(model, frames_per_snippet)
        self.session = ort.InferenceSession(data, session_options(threads), providers=["CPUExecutionProvider"])

    def __call__(self, snippets: torch.Tensor) -> SnippetFeatures:
        values = self.session.run(list(self.outputs), {"snippets": snippets.detach().float().cpu().numpy()})
        tensors = [torch.from_numpy(np.asarray(v)) for v in values]
        return SnippetFeatures(tensors[0], tensors[1] if len(tensors) > 1 else None)
