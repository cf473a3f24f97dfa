"""The action-unit evidence (:mod:`dkclip.model.au_evidence`) measured against the synthetic generator's AU intensities.

For a model and a synthetic test set (the study's held-out set): every clip runs through the model once (its
eval preprocessing, T test frames), the AU evidence is read off its video embedding (per clip) and its snippet
embeddings (per snippet), and compared with the truth:

- **per clip**, an AU is present when it belongs to the clip's labelled expression (the generator's
  ``target_aus``: the apex pattern; neutral clips show none);
- **per snippet**, when its mean intensity over the snippet's sampled frames reaches 0.15 (the generator's
  "active" threshold; noise runs of another expression count, as the model sees them).

Per AU: ROC-AUC (threshold-free; :func:`dkclip.ablation.noise.roc_auc`) and, for the calibration, the share of
absent AUs scored ≤ 0 and of present AUs scored > 0, both with the raw text-relative scores and after calibrating
on rendered faces of every class (:func:`synthetic_calibration`: noise-free clips of identities of their own seed,
never in any training or test set).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..model.au_evidence import AUEvidence, au_column
from ..prompts import AU_NAMES
from ..synth import AU_IDS, ClipSpec, render_clip
from ..synth.config import preset_config
from ..tables import markdown_table
from .heldout import HELDOUT_SEED
from .noise import roc_auc
from .predictions import load_annotation

if TYPE_CHECKING:
    from ..data.dataset import ClipDataset
    from ..engine.config import TrainConfig
    from ..model.dkclip import DKClip

logger = logging.getLogger(__name__)

CALIBRATION_SEED = HELDOUT_SEED + 1  # identities of their own: (7001, i)
ACTIVE = 0.15


@dataclass(frozen=True)
class AUMeasure:
    """One AU on one test set (fractions; None where a class of the truth is missing)."""

    au: int
    name: str
    present_clips: int
    present_snippets: int
    clip_auc: float | None
    snippet_auc: float | None
    raw_specificity: float | None  # absent clips with raw score <= 0
    raw_sensitivity: float | None  # present clips with raw score > 0
    specificity: float | None  # the same after the calibration on rendered faces
    sensitivity: float | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@torch.no_grad()
def embed_dataset(model: DKClip, dataset: ClipDataset, cfg: TrainConfig,
                  loader: Iterable[Any] | None = None) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """(dataset indices, video embeddings (n, E), snippet embeddings (n, N, E)) of every clip (first view)."""
    from ..engine.builders import eval_loader
    from ..engine.distributed import DistInfo

    model.eval()
    device = next(model.parameters()).device
    batches = loader if loader is not None else eval_loader(dataset, cfg, DistInfo(device=device))
    idx, video, snippets = [], [], []
    for batch in batches:
        x = batch["video"].to(device)
        if x.dim() == 6:
            x = x[:, 0]
        out = model(x)
        idx += batch["index"].tolist()
        video.append(out.video_embedding.float().cpu())
        snippets.append(out.snippet_embeddings.float().cpu())
    order = np.argsort(idx)
    return [idx[i] for i in order], torch.cat(video)[order], torch.cat(snippets)[order]


def truth(dataset: ClipDataset, indices: Sequence[int], root: str | None,
          num_snippets: int) -> tuple[np.ndarray, np.ndarray]:
    """(clip truth (n, A) bool, snippet truth (n, N, A) bool) from the generator's sidecars, A = :data:`AU_IDS`."""
    clips, snips = [], []
    for i in indices:
        rec = dataset.records[i]
        ann = load_annotation(rec.path, root)
        if ann is None:
            raise FileNotFoundError(f"no generator annotation for {rec.path}: the AU study needs synthetic data")
        target = ann.get("target_aus", {})
        clips.append([float(target.get(str(a), 0.0)) > 0 for a in AU_IDS])
        frames = np.array([f["aus"] for f in ann["frames"]], dtype=np.float64)  # (frames, A)
        sampled = np.asarray(dataset.frame_sampler(dataset.reader.count(rec.path)))[0]
        sampled = np.clip(sampled, 0, len(frames) - 1).reshape(num_snippets, -1)
        snips.append(frames[sampled].mean(axis=1) >= ACTIVE)
    return np.array(clips, dtype=bool), np.array(snips, dtype=bool)


def render_reference(model: DKClip, per_class: int = 8, seed: int = CALIBRATION_SEED,
                     preset: str = "aligned") -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Rendered noise-free synthetic clips of new identities, ``per_class`` of each of the 7 classes: model inputs
    (M, T, 3, S, S), clip truth (M, A) and snippet truth (M, N, A) over :data:`AU_IDS`."""
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
def synthetic_calibration(model: DKClip, evidence: AUEvidence, per_class: int = 8, seed: int = CALIBRATION_SEED,
                          preset: str = "aligned", batch_size: int = 8) -> AUEvidence:
    """Calibrate ``evidence`` (its AUs a subset of :data:`AU_IDS`) on rendered synthetic faces; returns it."""
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
    ``dkclip.predict.models.DEFAULT_AU_CALIBRATION`` ships for the default predict model). Regenerate that file
    after changing the shipped weights, the default model's initialisation or the renderer::

        python -c "from dkclip.predict.models import default_model, DEFAULT_AU_CALIBRATION as P; \\
          from dkclip.ablation.au_study import write_calibration; write_calibration(default_model(), P)"
    """
    with torch.random.fork_rng(devices=[]):
        calibrated = synthetic_calibration(model, AUEvidence.from_model(model))
    source = f"calibrated on {7 * 8} rendered noise-free aligned synthetic clips (seed {CALIBRATION_SEED})"
    return {"note": f"{note}: {source}" if note else source, **calibrated.calibration()}


def write_calibration(model: DKClip, path: str | Path, note: str = "") -> Path:
    """Write :func:`calibration_document` of ``model`` to ``path`` (atomically)."""
    from ..fileio import atomic_write_text

    return atomic_write_text(Path(path), json.dumps(calibration_document(model, note), indent=1) + "\n")


def _share(mask: np.ndarray) -> float | None:
    return float(mask.mean()) if mask.size else None


def measure_aus(evidence: AUEvidence, calibrated: AUEvidence, video: torch.Tensor, snippets: torch.Tensor,
                clip_truth: np.ndarray, snippet_truth: np.ndarray) -> list[AUMeasure]:
    """Per AU of ``evidence`` (must be a subset of :data:`AU_IDS`): AUCs and the sign accuracy at 0."""
    raw = evidence.raw(video)
    cal = calibrated.score(video)
    snip = calibrated.score(snippets, snippets=True)
    out = []
    for j, au in enumerate(evidence.aus):
        k = AU_IDS.index(au)
        pos, spos = clip_truth[:, k], snippet_truth[:, :, k]
        out.append(AUMeasure(
            au=au, name=au_column(au), present_clips=int(pos.sum()), present_snippets=int(spos.sum()),
            clip_auc=roc_auc(cal[:, j], pos), snippet_auc=roc_auc(snip[:, :, j].ravel(), spos.ravel()),
            raw_specificity=_share(raw[~pos, j] <= 0), raw_sensitivity=_share(raw[pos, j] > 0),
            specificity=_share(cal[~pos, j] <= 0), sensitivity=_share(cal[pos, j] > 0)))
    return out


def run_au_study(models: dict[str, Path | str], list_file: str, root: str, out: Path,
                 cfg: TrainConfig | None = None) -> dict[str, Any]:
    """Measure each model (a run directory, ``best/`` folder, or ``"shipped"`` for the shipped CLIP zero-shot:
    average pooling, no CMAM) on the test list; write ``out`` (JSON) and return its content."""
    from ..engine.builders import split_dataset
    from ..engine.config import TrainConfig as _TrainConfig
    from ..factory import create_model, load_model
    from ..fileio import atomic_write_json

    cfg = cfg or _TrainConfig()
    cfg.data.root, cfg.data.test_list = root, list_file
    cfg.data.workers, cfg.data.eval_batch_size = 1, 16
    result: dict[str, Any] = {"test_list": list_file, "models": {}}
    for name, source in models.items():
        if str(source) == "shipped":
            model = create_model("dkclip-tiny", pretrained="synthclip", temporal="avgpool", use_cmam=False,
                                 use_nrm=False, num_frames=16, eval_num_frames=16, logit_scale=None)
        else:
            model = load_model(source)
        model.eval()
        dataset = split_dataset(cfg, list_file, "test", model.config, "AU study list")
        evidence = AUEvidence.from_model(model, [a for a in AU_IDS])
        calibrated = synthetic_calibration(model, AUEvidence.from_model(model, [a for a in AU_IDS]))
        indices, video, snippets = embed_dataset(model, dataset, cfg)
        clip_truth, snippet_truth = truth(dataset, indices, root, model.config.num_snippets)
        measures = measure_aus(evidence, calibrated, video, snippets, clip_truth, snippet_truth)
        aucs = [m.clip_auc for m in measures if m.clip_auc is not None]
        saucs = [m.snippet_auc for m in measures if m.snippet_auc is not None]
        result["models"][name] = {
            "source": str(source), "clips": len(indices), "temporal": model.config.temporal,
            "mean_clip_auc": float(np.mean(aucs)) if aucs else None,
            "mean_snippet_auc": float(np.mean(saucs)) if saucs else None,
            "aus": [m.to_dict() for m in measures],
        }
        logger.info("%s: mean AU ROC-AUC per clip %.3f, per snippet %.3f", name,
                    result["models"][name]["mean_clip_auc"] or float("nan"),
                    result["models"][name]["mean_snippet_auc"] or float("nan"))
    atomic_write_json(out, result)
    return result


def load_au_study(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


BEGIN_MARKER = "<!-- au-evidence:begin -->"
END_MARKER = "<!-- au-evidence:end -->"


def _f(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{scale * value:.{digits}f}"


def render_au_study(result: dict[str, Any]) -> str:
    """The Markdown block (markers included): per AU and model, ROC-AUC per clip and per snippet, and the share
    of clips on the right side of 0 (raw and calibrated)."""
    models = result["models"]
    names = list(models)
    head = ["AU", "name", "clips with it"]
    for n in names:
        head += [f"{n}: ROC-AUC clip", f"{n}: ROC-AUC snippet", f"{n}: right side of 0, raw / calibrated"]
    rows = []
    first = models[names[0]]["aus"]
    for j, a in enumerate(first):
        row: list[object] = [a["name"], AU_NAMES[a["au"]], a["present_clips"]]
        for n in names:
            m = models[n]["aus"][j]
            raw = _balanced(m["raw_specificity"], m["raw_sensitivity"])
            cal = _balanced(m["specificity"], m["sensitivity"])
            row += [_f(m["clip_auc"]), _f(m["snippet_auc"]), f"{_f(raw, 100, 0)} / {_f(cal, 100, 0)} %"]
        rows.append(row)
    mean: list[object] = ["mean", "", ""]
    for n in names:
        mean += [f"**{_f(models[n]['mean_clip_auc'])}**", f"**{_f(models[n]['mean_snippet_auc'])}**", ""]
    rows.append(mean)
    lines = [BEGIN_MARKER,
             f"Test set `{result['test_list']}` ({models[names[0]]['clips']} clips). Models: "
             + "; ".join(f"**{n}**: `{m['source']}` ({m['temporal']})" for n, m in models.items()) + ".",
             "", markdown_table(head, rows), "",
             "ROC-AUC: per clip, an AU is present when it belongs to the clip's labelled expression; per snippet, when "
             "its mean intensity over the snippet's sampled frames is at least 0.15 (noise runs of another expression "
             "included). AU14 and AU23 belong to no 7-class expression, so only noise runs show them and no clip has "
             "them. Right side of 0: the mean of the share of clips without the AU scored ≤ 0 and the share with it "
             "scored > 0 (balanced accuracy at 0), with the raw text-relative score and after the calibration on "
             "rendered faces.", END_MARKER]
    return "\n".join(lines)


def _balanced(specificity: float | None, sensitivity: float | None) -> float | None:
    if specificity is None:
        return None
    return specificity if sensitivity is None else (specificity + sensitivity) / 2
