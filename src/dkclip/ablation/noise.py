"""The NRM as a noise detector, scored against the synthetic generator's per-frame noise flags.

For every run with the NRM on and N > 1, the selected model is run once more over the test split with the
engine's predict (``snippets=True``). Each snippet is mapped to the frame indices the test sampler drew for it
(T/N consecutive sampled frames); a snippet is *noisy* when more than half of those sampled frames carry a noise
flag in the generator's ``annotations/<clip>.json``; a clip is noisy when any of its frames is flagged. Over the
snippets of noisy clips: precision = erased∧noisy / erased, recall = erased∧noisy / noisy, and the noisy-snippet
base rate (the precision of erasing at random); over clean clips: the erase rate (false alarms). Multi-view
testing counts every view's snippets.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.config import TrainConfig
from .records import DetectionCounts, NoiseDetection

logger = logging.getLogger(__name__)


def frame_noise_flags(annotation: dict[str, Any]) -> np.ndarray:
    """Per-frame noise flags (n,) bool from a generator sidecar (``frames[t].noise`` is a kind or None)."""
    return np.array([f.get("noise") is not None for f in annotation["frames"]], dtype=bool)


def snippet_noise(flags: np.ndarray, indices: np.ndarray, num_snippets: int) -> np.ndarray:
    """(N,) bool: a snippet is noisy when more than half of the frames sampled for it are flagged noisy.

    ``indices`` (T,) are the sampled frame indices; snippet n holds the T/N consecutive ones from n·T/N.
    """
    indices = np.clip(np.asarray(indices, dtype=np.int64), 0, len(flags) - 1)
    per_snippet = flags[indices].reshape(num_snippets, -1)
    return np.asarray(per_snippet.mean(axis=1) > 0.5)


def detection_metrics(erased: np.ndarray, noisy: np.ndarray, clip_noisy: np.ndarray) -> NoiseDetection:
    """Erased-vs-noisy snippets: ``erased``, ``noisy`` (C, N) bool, one row per clip view; ``clip_noisy`` (C,).

    Precision and recall over the snippets of noisy clips, with the noisy-snippet base rate (the precision of
    erasing at random); the erase rate on clean clips is the false-alarm rate. Undefined ratios are None.
    """
    erased, noisy, clip_noisy = (np.asarray(a, dtype=bool) for a in (erased, noisy, clip_noisy))
    e, y = erased[clip_noisy], noisy[clip_noisy]
    clean = erased[~clip_noisy]
    tp = int((e & y).sum())

    def ratio(num: int, den: int) -> float | None:
        return num / den if den else None

    return NoiseDetection(
        precision=ratio(tp, int(e.sum())),
        recall=ratio(tp, int(y.sum())),
        base_rate=ratio(int(y.sum()), int(y.size)),
        erase_rate_noisy_clips=ratio(int(e.sum()), int(e.size)),
        false_alarm_noisy_clips=ratio(int((e & ~y).sum()), int((~y).sum())),
        erase_rate_clean_clips=ratio(int(clean.sum()), int(clean.size)),
        counts=DetectionCounts(noisy_clip_views=int(clip_noisy.sum()), clean_clip_views=int((~clip_noisy).sum()),
                               snippets_in_noisy_clips=int(e.size), noisy_snippets=int(y.sum()),
                               erased_in_noisy_clips=int(e.sum()), erased_noisy=tp,
                               erased_in_clean_clips=int(clean.sum())),
    )


def annotation_file(media_path: str, root: str | None) -> Path:
    """``<dataset>/annotations/<clip_id>.json`` for ``frames/<clip_id>`` or ``videos/<clip_id>.mp4``."""
    media = Path(media_path)
    base = Path(root) if root else media.parent.parent
    return base / "annotations" / f"{media.stem}.json"


def measure_noise_detection(cfg: TrainConfig, run_dir: Path) -> NoiseDetection | None:
    """Run the selected model of ``run_dir`` over the test split and score its erasures against the noise flags.

    The test clips are preprocessed as the model's config says (its evaluation T included), the data location
    and view count come from ``cfg``. None when the dataset has no generator annotations (not synthetic).
    """
    from ..engine.builders import eval_loader, resolve_amp, split_dataset
    from ..engine.distributed import cleanup, init_distributed
    from ..engine.inference import predict
    from ..factory import load_model

    if not cfg.data.test_list:
        return None
    info = init_distributed(cfg.run.device)
    try:
        model = load_model(run_dir).to(info.device)
        n = model.config.num_snippets
        dataset = split_dataset(cfg, cfg.data.test_list, "test", model.config, "data.test_list",
                                num_clips=cfg.eval.num_clips, num_crops=cfg.eval.num_crops)
        files = [annotation_file(r.path, cfg.data.root) for r in dataset.records]
        missing = next((f for f in files if not f.is_file()), None)
        if missing is not None:
            logger.warning("no generator annotations for the test clips (e.g. %s): noise detection skipped", missing)
            return None
        amp_dtype, _ = resolve_amp(cfg.run.amp, info.device)
        preds = predict(model, eval_loader(dataset, cfg, info), info, amp_dtype, snippets=True)
    finally:
        cleanup()
    assert preds.kept is not None
    erased, noisy, clip_noisy = [], [], []
    for row, index in enumerate(preds.indices.tolist()):
        rec = dataset.records[index]
        flags = frame_noise_flags(json.loads(files[index].read_text()))
        sampled = np.asarray(dataset.sampler(dataset.reader.count(rec.path)))  # (clips, T), deterministic in test
        for view in range(preds.kept.shape[1]):
            # Views are clip-major: view = clip * crops + crop, and crops share the clip's frames.
            erased.append(~preds.kept[row, view].astype(bool))
            noisy.append(snippet_noise(flags, sampled[view // cfg.eval.num_crops], n))
            clip_noisy.append(bool(flags.any()))
    return detection_metrics(np.array(erased), np.array(noisy), np.array(clip_noisy))
