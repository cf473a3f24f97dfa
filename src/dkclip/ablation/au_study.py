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

import dataclasses
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from ..errors import UsageError
from ..fileio import atomic_write_text
from ..model.au_evidence import AUEvidence, au_column
from ..predict.au_calibration import ACTIVE, synthetic_calibration
from ..prompts import AU_NAMES
from ..synth import AU_IDS
from ..tables import markdown_table
from .grid import build_grid, experiment_config, select_experiments
from .keys import input_fingerprint, run_key
from .noise import roc_auc
from .plan import AblateOptions, StudyPart
from .predictions import load_annotation
from .typed import from_dict

if TYPE_CHECKING:
    from ..data.dataset import ClipDataset
    from ..engine.run_config import TrainConfig
    from ..model.dkclip import DKClip

logger = logging.getLogger(__name__)



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


@dataclass(frozen=True)
class AUModelResult:
    """One model on the test set: where it came from, its temporal model, and per AU its :class:`AUMeasure`."""

    source: str  # a run's best/ folder, or "shipped"
    clips: int
    temporal: str
    mean_clip_auc: float | None  # over the AUs that have one
    mean_snippet_auc: float | None
    aus: list[AUMeasure]


@dataclass(frozen=True)
class AUStudy:
    """``au_evidence.json``: the test list and each model's measures (written with ``dataclasses.asdict``)."""

    test_list: str
    models: dict[str, AUModelResult]


def embed_dataset(model: DKClip, dataset: ClipDataset, cfg: TrainConfig,
                  loader: Iterable[Any] | None = None) -> tuple[list[int], torch.Tensor, torch.Tensor]:
    """(dataset indices, video embeddings (n, E), snippet embeddings (n, N, E)) of every clip (first view)."""
    from ..engine.builders import eval_loader
    from ..engine.distributed import DistInfo
    from ..engine.inference import iterate_outputs

    device = next(model.parameters()).device
    batches = loader if loader is not None else eval_loader(dataset, cfg, DistInfo(device=device))
    idx, video, snippets = [], [], []
    for batch, out, views in iterate_outputs(model, batches, device):
        idx += batch["index"].tolist()
        video.append(out.video_embedding[::views].float().cpu())  # the first view of each clip
        snippets.append(out.snippet_embeddings[::views].float().cpu())
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
                 cfg: TrainConfig | None = None) -> AUStudy:
    """Measure each model (a run directory, ``best/`` folder, or ``"shipped"`` for the shipped CLIP zero-shot:
    average pooling, no CMAM) on the test list; write ``out`` (JSON) and return its content."""
    from ..engine.builders import split_dataset
    from ..engine.run_config import TrainConfig as _TrainConfig
    from ..factory import create_model, load_model
    from ..fileio import atomic_write_json

    cfg = cfg or _TrainConfig()
    cfg.data.root, cfg.data.test_list = root, list_file
    cfg.data.workers, cfg.data.eval_batch_size = 1, 16
    results: dict[str, AUModelResult] = {}
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
        result = AUModelResult(source=str(source), clips=len(indices), temporal=model.config.temporal,
                               mean_clip_auc=float(np.mean(aucs)) if aucs else None,
                               mean_snippet_auc=float(np.mean(saucs)) if saucs else None, aus=measures)
        results[name] = result
        logger.info("%s: mean AU ROC-AUC per clip %.3f, per snippet %.3f", name,
                    result.mean_clip_auc or float("nan"), result.mean_snippet_auc or float("nan"))
    study = AUStudy(test_list=list_file, models=results)
    atomic_write_json(out, dataclasses.asdict(study))
    return study


def load_au_study(path: Path) -> AUStudy:
    """An ``au_evidence.json`` written by :func:`run_au_study`."""
    return from_dict(AUStudy, json.loads(path.read_text()))


BEGIN_MARKER = "<!-- au-evidence:begin -->"
END_MARKER = "<!-- au-evidence:end -->"


def _f(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
    return "-" if value is None else f"{scale * value:.{digits}f}"


def render_au_study(study: AUStudy) -> str:
    """The Markdown block (markers included): per AU and model, ROC-AUC per clip and per snippet, and the share
    of clips on the right side of 0 (raw and calibrated)."""
    models = study.models
    names = list(models)
    head = ["AU", "name", "clips with it"]
    for n in names:
        head += [f"{n}: ROC-AUC clip", f"{n}: ROC-AUC snippet", f"{n}: right side of 0, raw / calibrated"]
    rows = []
    first = models[names[0]].aus
    for j, a in enumerate(first):
        row: list[object] = [a.name, AU_NAMES[a.au], a.present_clips]
        for n in names:
            m = models[n].aus[j]
            raw = _balanced(m.raw_specificity, m.raw_sensitivity)
            cal = _balanced(m.specificity, m.sensitivity)
            row += [_f(m.clip_auc), _f(m.snippet_auc), f"{_f(raw, 100, 0)} / {_f(cal, 100, 0)} %"]
        rows.append(row)
    mean: list[object] = ["mean", "", ""]
    for n in names:
        mean += [f"**{_f(models[n].mean_clip_auc)}**", f"**{_f(models[n].mean_snippet_auc)}**", ""]
    rows.append(mean)
    lines = [BEGIN_MARKER,
             f"Test set `{study.test_list}` ({models[names[0]].clips} clips). Models: "
             + "; ".join(f"**{n}**: `{m.source}` ({m.temporal})" for n, m in models.items()) + ".",
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


def study_au_evidence(parts: dict[str, StudyPart], options: AblateOptions) -> str:
    """``dkclip ablate --au-evidence``: the shipped CLIP and the full model (first seed, aligned preset, its kept
    weights) on the aligned held-out set; writes ``<records dir>/au_evidence.json`` and the block into
    ``options.report``; returns the block."""
    part = parts.get("aligned")
    if part is None:
        raise UsageError("--au-evidence needs the aligned preset")
    seed = options.seed_list[0]
    full = select_experiments(build_grid(), ["table4/+CCR"])[0]
    key = run_key(experiment_config(part.base, full, seed), input_fingerprint(part.base))
    run_dir = Path(options.out_dir) / "aligned" / "runs" / key
    if not (run_dir / "best").is_dir():
        raise UsageError(f"the full model of seed {seed} has no kept weights in {run_dir} yet",
                         hint="run (or let finish) its training first: dkclip ablate with the same --out-dir")
    held = next(t for t in part.test_sets if t.name == "heldout")
    study = run_au_study({"shipped CLIP": "shipped", "fine-tuned": run_dir / "best"}, held.list_file, held.root,
                         options.records_root / "au_evidence.json")
    block = render_au_study(study)
    if options.report is not None:
        write_au_block(Path(options.report), block)
    return block


def write_au_block(report: Path, block: str) -> None:
    """Replace the text between the au-evidence markers of ``report``; unlike the ablate block it is never
    appended: where the AU table goes in the document is the author's choice."""
    text = report.read_text() if report.is_file() else ""
    begin, end = text.find(BEGIN_MARKER), text.find(END_MARKER)
    if begin < 0 or end < begin:
        raise UsageError(f"{report} has no {BEGIN_MARKER} ... {END_MARKER} block; add the markers where the "
                         "table should go")
    atomic_write_text(report, text[:begin] + block + text[end + len(END_MARKER):])
