"""How the predictor runs the model: ``--runtime torch | torch-int8 | onnx``.

Each runtime does the two halves of :meth:`DKClip.forward` the snippet cache needs (:meth:`encode_snippets`,
the expensive CFAM, and :meth:`integrate`, the per-window MSIM, NRM, CMAM and heads) and the whole forward:

- ``torch``: the model as it is (fp32 on the CPU; exact).
- ``torch-int8``: a copy of the model whose video encoder's linear layers (attention projections, MLPs,
  message tokens) are quantised to int8 weights with dynamically quantised activations
  (``torch.ao.quantization.quantize_dynamic``); the per-window modules stay fp32, the text tower is untouched.
  CPU only. Approximate: agreement with fp32 is measured in docs/benchmarks.md.
- ``onnx``: the video encoder exported to ONNX in memory at start-up and run by ONNX Runtime; the per-window
  modules stay in PyTorch. Equal to fp32 within float rounding.

A model loaded from an ``.onnx`` file (:class:`~dkclip.model.onnx.OnnxModel`, ``dkclip export --onnx``) runs
its whole video graph per window (no snippet cache: the file is the portable video model).
"""

from __future__ import annotations

import copy
import warnings
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..errors import UsageError
from ..model.dkclip import DKClip, DKClipOutput, SnippetFeatures
from .defaults import DEFAULT_RUNTIME, RUNTIMES

if TYPE_CHECKING:
    from ..model.onnx import OnnxModel

__all__ = ["DEFAULT_RUNTIME", "RUNTIMES", "Int8Runtime", "Runtime", "build_runtime", "quantize_encoder",
           "resolve_device"]


class Runtime:
    """The model on one runtime. ``snippet_encoding``: :meth:`encode_snippets` / :meth:`integrate` exist."""

    name = "torch"

    def __init__(self, model: DKClip) -> None:
        self.model = model
        self.config = model.config
        self.snippet_encoding = model.supports_snippet_encoding

    def forward(self, video: torch.Tensor) -> DKClipOutput:
        with torch.inference_mode():
            return self.model(video)

    def encode_snippets(self, snippets: torch.Tensor) -> SnippetFeatures:
        with torch.inference_mode():
            return self.model.encode_snippets(snippets)

    def integrate(self, features: SnippetFeatures) -> DKClipOutput:
        with torch.inference_mode():
            return self.model.integrate(features)


def quantize_encoder(model: DKClip) -> DKClip:
    """A copy of ``model`` sharing every module but the video encoder, whose linear layers are int8 (dynamic
    quantisation). The attention's q/k/v and output projections are plain ``nn.Linear`` modules in the copy
    (:func:`~dkclip.model.layers.mha_self_attention` uses them when present), so they are quantised as well."""
    visual = copy.deepcopy(model.visual)
    for module in list(visual.modules()):
        if isinstance(module, nn.MultiheadAttention):
            qkv = nn.Linear(module.embed_dim, 3 * module.embed_dim, bias=module.in_proj_bias is not None)
            out = nn.Linear(module.embed_dim, module.embed_dim, bias=module.out_proj.bias is not None)
            with torch.no_grad():
                qkv.weight.copy_(module.in_proj_weight)
                out.weight.copy_(module.out_proj.weight)
                if module.in_proj_bias is not None:
                    qkv.bias.copy_(module.in_proj_bias)
                if module.out_proj.bias is not None:
                    out.bias.copy_(module.out_proj.bias)
            module.qkv = qkv
            module.out_proj = out  # type: ignore[assignment]
            module.register_parameter("in_proj_weight", None)  # replaced by qkv: not kept twice
            module.register_parameter("in_proj_bias", None)
    with warnings.catch_warnings():
        # torch.ao.quantization is deprecated in favour of torchao, which is not a dependency here.
        warnings.simplefilter("ignore")
        # Per-channel weight scales: one outlier row does not cost the others their precision.
        quantized = torch.ao.quantization.quantize_dynamic(
            visual.eval(), {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}, dtype=torch.qint8)
    clone = copy.copy(model)
    clone._modules = dict(model._modules)  # the shallow copy shares the module dict: give it its own
    clone.visual = quantized
    return clone


class Int8Runtime(Runtime):
    """``torch-int8``: the model with its video encoder quantised (:func:`quantize_encoder`)."""

    name = "torch-int8"

    def __init__(self, model: DKClip) -> None:
        super().__init__(quantize_encoder(model))


class OnnxRuntime(Runtime):
    name = "onnx"

    def __init__(self, model: DKClip) -> None:
        from ..model.onnx import OnnxSnippetEncoder

        super().__init__(model)
        if not self.snippet_encoding:
            raise UsageError(f"--runtime onnx needs a snippet model (temporal hierarchical or avgpool), not "
                             f"temporal={model.config.temporal!r}")
        cfg = model.config
        self.frames_per_snippet = cfg.test_num_frames // cfg.num_snippets
        self.encoder = OnnxSnippetEncoder(model, self.frames_per_snippet)

    def forward(self, video: torch.Tensor) -> DKClipOutput:
        batch, frames = video.shape[:2]
        n = self.config.num_snippets
        feats = self.encode_snippets(video.reshape(batch * n, frames // n, *video.shape[2:]))
        return self.integrate(SnippetFeatures(feats.embeddings.view(batch, n, -1),
                                              None if feats.tokens is None
                                              else feats.tokens.view(batch, n, *feats.tokens.shape[1:])))

    def encode_snippets(self, snippets: torch.Tensor) -> SnippetFeatures:
        if snippets.shape[1] != self.frames_per_snippet:
            raise ValueError(f"the ONNX encoder was built for {self.frames_per_snippet} frames a snippet, got "
                             f"{snippets.shape[1]}")
        return self.encoder(snippets)


class OnnxVideoRuntime:
    """A model loaded from an ``.onnx`` file: the whole video graph per window."""

    name = "onnx"
    snippet_encoding = False

    def __init__(self, model: OnnxModel) -> None:
        self.model = model
        self.config = model.config

    def forward(self, video: torch.Tensor) -> DKClipOutput:
        return self.model(video)

    def encode_snippets(self, snippets: torch.Tensor) -> SnippetFeatures:
        raise NotImplementedError("an ONNX video model runs whole windows")

    def integrate(self, features: SnippetFeatures) -> DKClipOutput:
        raise NotImplementedError("an ONNX video model runs whole windows")


def resolve_device(device: str | torch.device | None) -> torch.device:
    """The device the predictor runs on: ``device`` (``--device``; an unusable one is a plain error), else a GPU
    when there is one, else the CPU."""
    from ..engine.distributed import parse_device

    return parse_device(device, "--device")


def build_runtime(model: DKClip | OnnxModel, runtime: str, device: torch.device) -> Runtime | OnnxVideoRuntime:
    """``model`` (already on ``device``) on ``runtime`` (:data:`RUNTIMES`). Building int8 or ONNX costs seconds
    (5 and 17 s for ViT-B/16): a caller that predicts many times (the app) builds it once and passes it to each
    :class:`~dkclip.predict.Predictor`."""
    from ..model.onnx import OnnxModel

    if runtime not in RUNTIMES:
        raise UsageError(f"runtime must be one of {', '.join(RUNTIMES)}, got {runtime!r}")
    if isinstance(model, OnnxModel):
        if runtime != "onnx" and runtime != DEFAULT_RUNTIME:
            raise UsageError(f"{model.path} is an ONNX model: it runs with ONNX Runtime (--runtime onnx)")
        return OnnxVideoRuntime(model)
    if runtime != "torch" and device.type != "cpu":
        raise UsageError(f"--runtime {runtime} is a CPU runtime; on {device} use --runtime torch")
    if runtime == "torch-int8":
        return Int8Runtime(model)
    if runtime == "onnx":
        return OnnxRuntime(model)
    return Runtime(model)
