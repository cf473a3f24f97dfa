"""Evaluating a finished run on the study's test sets, from its kept weights (``runs/<key>/best``).

Each :class:`EvalRequest` names a test set (the large held-out set, the fold's own test split) and optionally a
test-time NRM normalisation (``nrm_norm``), which changes the erasures and with them the CMAM's visual tokens and
the fused local head, but not the weights. The model is loaded once per run; every request runs the test clips
through it once (multi-view as ``eval.num_clips``/``eval.num_crops`` say), stores the per-clip predictions
(:mod:`dkclip.ablation.predictions`) and returns the measures (:func:`measure`).

Since the weights stay in the run folder and the predictions in the records folder, a new test set (or a new
measure) never needs a retraining: a rerun of ``dkclip ablate`` evaluates what is missing.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.run_config import TrainConfig
from ..pretrained import file_sha256
from ..stats import uar_war
from ..synth import NOISE_KINDS
from .heldout import TestSet
from .noise import detection_metrics, kind_detection, roc_auc
from .predictions import ClipPredictions, frame_noise_kinds, load_annotation, snippet_kinds, write_predictions
from .records import HeadScore, SetEvaluation

if TYPE_CHECKING:
    from ..data.dataset import ClipDataset
    from ..model.dkclip import DKClip

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalRequest:
    name: str  # the key in RunRecord.evaluations
    test_set: TestSet
    nrm_norm: str | None  # test-time NRM normalisation; None: as trained
    predictions: str  # relative to the records folder

    @property
    def variant(self) -> str | None:
        return None if self.nrm_norm is None else f"nrm_norm={self.nrm_norm}"


def request_name(test_set: str, nrm_norm: str | None) -> str:
    return test_set if nrm_norm is None else f"{test_set}@nrm_norm={nrm_norm}"


def predictions_path(key: str, test_set: str, nrm_norm: str | None) -> str:
    suffix = "" if nrm_norm is None else f".nrm-{nrm_norm}"
    return f"predictions/{key}.{test_set}{suffix}.csv.gz"


def set_digest(test_set: TestSet) -> str:
    """16 hex digits of the list file's and the dataset's ``meta.json`` SHA-256 (absent files count as empty)."""
    h = hashlib.sha256()
    for path in (Path(test_set.list_file), Path(test_set.root) / "meta.json"):
        h.update((file_sha256(path) if path.is_file() else "-").encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------------------- measuring
def measure(request: EvalRequest, preds: ClipPredictions, digest: str, nrm_active: bool,
            wall_s: float) -> SetEvaluation:
    """Head scores, and for a model whose NRM can erase (``nrm_active``) its noise detection, from ``preds``."""
    heads = {}
    for head in ("global", "local", "fused"):
        uar, war = uar_war(preds.labels, preds.preds(head))
        heads[head] = HeadScore(uar=uar, war=war)
    noisy = preds.noisy
    has_truth = bool(noisy.any())
    detection, by_kind = None, {}
    if nrm_active and has_truth:
        views = preds.views
        clip_noisy = np.repeat(preds.clip_noisy, views)
        n = preds.num_snippets
        detection = detection_metrics((~preds.kept).reshape(-1, n), noisy.reshape(-1, n), clip_noisy)
        kinds = np.array(preds.noise, dtype=object).reshape(preds.scores.shape)
        by_kind = {k: kind_detection(k, ~preds.kept, preds.scores, kinds) for k in NOISE_KINDS
                   if bool((kinds == k).any())}
    auc = roc_auc(1.0 - preds.scores, noisy) if has_truth and preds.num_snippets > 1 else None
    return SetEvaluation(name=request.name, test_set=request.test_set.name, variant=request.variant,
                         list_file=request.test_set.list_file, digest=digest, num_clips=preds.num_clips, heads=heads,
                         detection=detection, auc=auc, by_kind=by_kind, predictions=request.predictions,
                         wall_s=wall_s)


# ------------------------------------------------------------------------------------------------- running
def collect(model: DKClip, dataset: ClipDataset, cfg: TrainConfig,
            loader: Iterable[Any] | None = None) -> ClipPredictions:
    """Run ``model`` over ``dataset`` (one process) and gather what :class:`ClipPredictions` holds."""
    from ..engine.builders import eval_loader
    from ..engine.distributed import DistInfo
    from ..engine.inference import iterate_outputs
    from ..model.heads import head_probabilities

    device = next(model.parameters()).device
    n = model.config.num_snippets
    batches: Iterable[Any] = loader if loader is not None else eval_loader(
        dataset, cfg, DistInfo(rank=0, world_size=1, local_rank=0, device=device))
    indices, glob, local, scores, kept, cos = [], [], [], [], [], []
    for batch, out, views in iterate_outputs(model, batches, device):
        b = out.logits.shape[0] // views
        probs = head_probabilities(out, views)
        glob.append(probs["global"])
        local.append(probs["local"])
        scores.append(out.snippet_scores.float().reshape(b, views * n))
        kept.append(out.kept.reshape(b, views * n))
        sim = torch.einsum("be,bne->bn", F.normalize(out.video_embedding.float(), dim=-1),
                           F.normalize(out.snippet_embeddings.float(), dim=-1))
        cos.append(sim.reshape(b, views * n))
        indices.append(batch["index"])
    order = torch.argsort(torch.cat(indices))
    idx = torch.cat(indices)[order].tolist()

    def cat(parts: list[torch.Tensor]) -> np.ndarray:
        return torch.cat(parts)[order].cpu().numpy()

    sc = cat(scores)
    views_total = sc.shape[1] // n
    num_crops = max(1, cfg.eval.num_crops)
    clips, labels, clip_noisy, noise = [], [], [], []
    for i in idx:
        rec = dataset.records[i]
        clips.append(_relative(rec.path, cfg.data.root))
        labels.append(rec.label)
        ann = load_annotation(rec.path, cfg.data.root)
        if ann is None:
            clip_noisy.append(False)
            noise.append([""] * sc.shape[1])
            continue
        kinds = frame_noise_kinds(ann)
        clip_noisy.append(any(k is not None for k in kinds))
        sampled = np.asarray(dataset.frame_sampler(dataset.reader.count(rec.path)))  # (clips, T), deterministic in test
        row: list[str] = []
        for view in range(views_total):
            # Views are clip-major: view = clip * crops + crop, and crops share the clip's frames.
            row += snippet_kinds(kinds, sampled[view // num_crops], n)
        noise.append(row)
    return ClipPredictions(clips=clips, labels=np.array(labels, dtype=np.int64), global_probs=cat(glob),
                           local_probs=cat(local), clip_noisy=np.array(clip_noisy, dtype=bool), scores=sc,
                           kept=cat(kept).astype(bool), cos=cat(cos), noise=noise, num_snippets=n)


def _relative(path: str, root: str | None) -> str:
    """``path`` relative to the dataset root when it lies under it (as in the list file), else as it is."""
    if root:
        try:
            return Path(path).relative_to(Path(root)).as_posix()
        except ValueError:
            pass
    return path


def nrm_active(model: DKClip) -> bool:
    return bool(model.config.use_nrm) and model.config.num_snippets > 1


CollectFn = Callable[["DKClip", "ClipDataset", TrainConfig], ClipPredictions]


def evaluate_run(cfg: TrainConfig, run_dir: Path, requests: Sequence[EvalRequest], records_dir: Path,
                 collect_fn: CollectFn | None = None) -> dict[str, SetEvaluation]:
    """Load the selected model of ``run_dir`` and answer every request: predictions written under
    ``records_dir``, measures returned by request name."""
    from ..engine.builders import split_dataset
    from ..factory import load_model

    collect_fn = collect_fn or collect
    model = load_model(run_dir)
    trained_norm = model.config.nrm_norm
    results: dict[str, SetEvaluation] = {}
    datasets: dict[str, ClipDataset] = {}
    try:
        for req in requests:
            started = time.perf_counter()
            ts = req.test_set
            set_cfg = _with_data(cfg, ts)
            if ts.name not in datasets:
                datasets[ts.name] = split_dataset(set_cfg, ts.list_file, "test", model.config, f"test set {ts.name}",
                                                  num_clips=cfg.eval.num_clips, num_crops=cfg.eval.num_crops)
            model.config.nrm_norm = cast(Any, req.nrm_norm or trained_norm)  # read by every forward
            preds = collect_fn(model, datasets[ts.name], set_cfg)
            write_predictions(records_dir / req.predictions, preds)
            results[req.name] = measure(req, preds, set_digest(ts), nrm_active(model),
                                        time.perf_counter() - started)
            logger.info("  %s: %d clips, global UAR %.2f (%.0f s)", req.name, preds.num_clips,
                        100 * results[req.name].heads["global"].uar, results[req.name].wall_s)
    finally:
        model.config.nrm_norm = trained_norm
    return results


def _with_data(cfg: TrainConfig, test_set: TestSet) -> TrainConfig:
    """``cfg`` reading from ``test_set``'s dataset root (list paths are relative to it)."""
    import copy

    out = copy.deepcopy(cfg)
    out.data.root = test_set.root
    out.data.test_list = test_set.list_file
    return out
