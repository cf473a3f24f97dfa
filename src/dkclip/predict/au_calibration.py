"""Which action-unit calibration a model gets, and calibrating one on rendered synthetic faces.

:func:`au_evidence_for` is the one place that decides what the AU columns of ``dkclip predict`` (CLI, Python API
and app alike) are scored with:

- ``False``: no AU columns;
- an :class:`~dkclip.model.au_evidence.AUEvidence`: used as it is;
- ``"synthetic"``: calibrated now on rendered synthetic faces (:func:`synthetic_calibration`; meaningful only for
  models of synthetic faces);
- a path: a calibration file (:meth:`AUEvidence.calibration` as JSON, e.g. from :func:`write_calibration`);
- ``True`` (the default): the shipped calibration for the shipped default model (:func:`mark_shipped_default`,
  set by :func:`dkclip.predict.models.default_model`), else raw evidence (0 = as well described as a neutral
  face).

The synthetic reference clips are the generator's (:mod:`dkclip.synth`), never a training or test clip: noise-free
clips of identities of their own seed. The ablation study measures the evidence with the same calibration.
"""

from __future__ import annotations

import json
import os
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UsageError
from ..model.au_evidence import AUEvidence
from ..synth import AU_IDS, ClipSpec, preset_config, render_clip

if TYPE_CHECKING:
    from ..model.dkclip import DKClip
    from ..model.onnx import OnnxModel

# Identities of their own for the reference faces: (7001, i), next to the ablation's held-out seed 7000.
CALIBRATION_SEED = 7001
# A snippet shows an AU when its mean intensity reaches this (the generator's "active" threshold).
ACTIVE = 0.15
REFERENCE_PER_CLASS = 8

# The shipped default model's calibration on rendered synthetic faces (:func:`calibration_document` of
# dkclip.predict.models.default_model(); tests/predict/test_au_columns.py checks it is still what that gives).
DEFAULT_AU_CALIBRATION = Path(__file__).resolve().parents[1] / "weights" / "dkclip-tiny-synthclip.au_calibration.json"

_SHIPPED_DEFAULT: weakref.WeakSet[torch.nn.Module] = weakref.WeakSet()

AUSetting = bool | str | os.PathLike[str] | AUEvidence


def mark_shipped_default(model: DKClip) -> DKClip:
    """Remember that ``model`` is the shipped default model, whose calibration ships beside its weights."""
    _SHIPPED_DEFAULT.add(model)
    return model


def is_shipped_default(model: DKClip | OnnxModel) -> bool:
    return model in _SHIPPED_DEFAULT


def au_evidence_for(model: DKClip | OnnxModel, aus: AUSetting = True) -> AUEvidence | None:
    """The AU evidence ``model``'s predictions are scored with (module docstring); None: no AU columns. A
    calibration file that is missing or not a calibration raises :class:`~dkclip.errors.UsageError` naming it.
    An ONNX model (:class:`~dkclip.model.onnx.OnnxModel`) brings its exported AU phrases; it cannot be calibrated
    on rendered faces (that runs the PyTorch model)."""
    if isinstance(aus, AUEvidence):
        return aus
    if aus is False:
        return None
    if aus is True:
        if is_shipped_default(model):
            return load_calibration_file(model, DEFAULT_AU_CALIBRATION)
        return raw_evidence(model)
    if isinstance(aus, str) and aus == "synthetic":
        from ..model.onnx import OnnxModel

        if isinstance(model, OnnxModel):
            raise UsageError("--au-calibration synthetic runs the PyTorch model on rendered faces; with an ONNX "
                             "model give a calibration file")
        return synthetic_calibration(model, AUEvidence.from_model(model))
    return load_calibration_file(model, Path(aus))


def raw_evidence(model: DKClip | OnnxModel) -> AUEvidence:
    """``model``'s uncalibrated AU evidence: from its text tower, or an ONNX model's exported phrases."""
    from ..model.onnx import OnnxModel

    return model.au_evidence() if isinstance(model, OnnxModel) else AUEvidence.from_model(model)


def load_calibration_file(model: DKClip | OnnxModel, path: Path) -> AUEvidence:
    """``model``'s AU evidence with the calibration stored in ``path`` (JSON)."""
    evidence = raw_evidence(model)
    try:
        data = json.loads(path.read_text())
        return evidence.load_calibration(data)
    except FileNotFoundError:
        raise UsageError(f"AU calibration: no such file: {path}") from None
    except IsADirectoryError:
        raise UsageError(f"AU calibration: {path} is a folder, not a calibration file") from None
    except UnicodeDecodeError:
        raise UsageError(f"AU calibration: {path}: not a text (JSON) file") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"AU calibration: {path}: not JSON (line {exc.lineno}: {exc.msg})") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"AU calibration: {path}: not an AU calibration ({exc})",
                         hint="write one with dkclip.AUEvidence.calibration() or "
                              "dkclip.predict.au_calibration.write_calibration") from None


# ---------------------------------------------------------------------------- synthetic reference faces
def render_reference(model: DKClip, per_class: int = REFERENCE_PER_CLASS, seed: int = CALIBRATION_SEED,
                     preset: str = "aligned") -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Rendered noise-free synthetic clips of new identities, ``per_class`` of each of the 7 classes: model inputs
    (M, T, 3, S, S), clip truth (M, A) and snippet truth (M, N, A) over :data:`dkclip.synth.AU_IDS`."""
    from ..data.pipeline import model_transforms

    _, eval_tf = model_transforms(model.config)
    synth = preset_config(preset, size=max(112, model.config.image_size))
    t, n = model.config.test_num_frames, model.config.num_snippets
    videos, clips, snips = [], [], []
    for i in range(7 * per_class):
        spec = ClipSpec(clip_id=f"r{i}", label=i % 7, identity=i, num_frames=t, index=i, seed=seed, noisy=False,
                        config=synth)
        frames, clip_truth = render_clip(spec)
        videos.append(eval_tf(frames))  # exactly T frames: all kept, in order
        clips.append(clip_truth.target.max(axis=0) > 0)
        snips.append(clip_truth.aus.reshape(n, -1, len(AU_IDS)).mean(axis=1) >= ACTIVE)
    return torch.stack(videos), np.array(clips, dtype=bool), np.array(snips, dtype=bool)


@torch.no_grad()
def synthetic_calibration(model: DKClip, evidence: AUEvidence, per_class: int = REFERENCE_PER_CLASS,
                          seed: int = CALIBRATION_SEED, preset: str = "aligned", batch_size: int = 8) -> AUEvidence:
    """Calibrate ``evidence`` (its AUs a subset of :data:`dkclip.synth.AU_IDS`) on rendered synthetic faces;
    returns it."""
    model.eval()
    device = next(model.parameters()).device
    videos, clip_truth, snippet_truth = render_reference(model, per_class, seed, preset)
    vids, snips = [], []
    for start in range(0, videos.shape[0], batch_size):
        out = model(videos[start:start + batch_size].to(device))
        vids.append(out.video_embedding.float().cpu())
        snips.append(out.snippet_embeddings.float().cpu())
    cols = [AU_IDS.index(a) for a in evidence.aus]
    return evidence.calibrate(torch.cat(vids), clip_truth[:, cols], torch.cat(snips), snippet_truth[:, :, cols])


def calibration_document(model: DKClip, note: str = "") -> dict[str, Any]:
    """:func:`synthetic_calibration` of ``model`` as the JSON a model's AU calibration file holds (what
    :data:`DEFAULT_AU_CALIBRATION` ships for the default predict model). Regenerate that file after changing the
    shipped weights, the default model's initialisation or the renderer::

        python -c "from dkclip.predict.models import default_model; \\
          from dkclip.predict.au_calibration import DEFAULT_AU_CALIBRATION as P, write_calibration; \\
          write_calibration(default_model(), P)"
    """
    with torch.random.fork_rng(devices=[]):
        calibrated = synthetic_calibration(model, AUEvidence.from_model(model))
    source = (f"calibrated on {7 * REFERENCE_PER_CLASS} rendered noise-free aligned synthetic clips "
              f"(seed {CALIBRATION_SEED})")
    return {"note": f"{note}: {source}" if note else source, **calibrated.calibration()}


def write_calibration(model: DKClip, path: str | os.PathLike[str], note: str = "") -> Path:
    """Write :func:`calibration_document` of ``model`` to ``path`` (atomically)."""
    from ..fileio import atomic_write_text

    return atomic_write_text(Path(path), json.dumps(calibration_document(model, note), indent=1) + "\n")
