"""``evaluate``: a trained model on a list file, full-set UAR/WAR for the global, local and fused heads,
single- or multi-view, gathered across ranks under torchrun."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, cast

from ..data.dataset import ClipDataset
from ..data.errors import DataError
from ..data.sampling import FrameSampler
from ..engine.builders import eval_loader, resolve_amp, split_dataset
from ..engine.distributed import cleanup, init_distributed
from ..engine.inference import HEADS, predict
from ..engine.reports import format_table, summarize, write_per_class_csv, write_predictions_csv, write_report_files
from ..engine.run_config import TrainConfig
from ..errors import ConfigError, UsageError
from ..factory import load_model, locate_model
from ..fileio import atomic_write_json

logger = logging.getLogger(__name__)


def check_classes(dataset: ClipDataset, class_names: list[str], where: str) -> None:
    """The classes of the evaluated clips against the model's. Labels beyond the model's classes were refused when
    the dataset was built; a list that covers only some of the model's classes is legitimate (a subset, a fold
    without rare classes) but changes what UAR means, so it is said."""
    present = sorted({r.label for r in dataset.records})
    missing = [class_names[i] for i in range(len(class_names)) if i not in present]
    if missing:
        logger.warning("%s: no clip of %d of the model's %d classes (%s); UAR is the mean recall over the %d "
                       "classes present", where, len(missing), len(class_names), ", ".join(missing[:6]) +
                       (", ..." if len(missing) > 6 else ""), len(present))


def evaluate(model_path: str | Path, cfg: TrainConfig, list_file: str | None = None,
             out_dir: str | Path | None = None, num_frames: int | None = None) -> dict[str, Any]:
    """Evaluate a saved model on a list file; preprocessing (size, normalisation, T) comes from the model.

    ``cfg`` gives where the data is and how to read it (root, rewrites, workers, views). ``num_frames``
    overrides the model's test T. Writes ``results.json``, per-head confusion matrices and ``predictions.csv``.
    """
    info = init_distributed(cfg.run.device)
    try:
        source = locate_model(model_path)
        model = load_model(model_path).to(info.device)
        key = "--list" if list_file else "data.test_list"
        list_file = list_file or cfg.data.test_list
        if not list_file:
            raise ConfigError(f"{key} is not set")
        n = model.config.num_snippets
        if num_frames is not None and (num_frames < 1 or num_frames % n):
            raise UsageError(f"--frames {num_frames}: the model splits a clip into {n} snippets, so the frames per "
                             f"clip must be a positive multiple of {n} (the model's own test T is "
                             f"{model.config.test_num_frames})")
        dataset = split_dataset(cfg, list_file, "test", model.config, key, num_frames=num_frames,
                                num_clips=cfg.eval.num_clips, num_crops=cfg.eval.num_crops)
        frames = cast(FrameSampler, dataset.frame_sampler).num_frames  # build_dataset's frame sampler
        amp_dtype, _ = resolve_amp(cfg.run.amp, info.device)
        loader = eval_loader(dataset, cfg, info)
        names = model.config.class_labels
        check_classes(dataset, names, str(list_file))
        preds = predict(model, loader, info, amp_dtype, snippets=True)
        if preds.labels.size == 0:
            raise DataError(f"{list_file}: every clip was skipped as unreadable ({loader.report.summary()})")
        summary = summarize(preds, names)
        result = {"model": str(model_path), "list": str(list_file), "num_clips": int(preds.labels.size),
                  "views": {"clips": cfg.eval.num_clips, "crops": cfg.eval.num_crops, "frames": frames},
                  "reported_head": cfg.eval.head, "heads": summary, "data": loader.report.summary()}
        if info.is_main:
            out = Path(out_dir) if out_dir else (source.run_dir or Path(".")) / f"eval-{Path(list_file).stem}"
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out / "results.json", result)
            write_predictions_csv(preds, [r.path for r in dataset.records], names, out / "predictions.csv")
            reports = {head: preds.report(head, names) for head in HEADS}
            write_per_class_csv(reports, out / "per_class.csv")
            for head, rep in reports.items():
                write_report_files(rep, out, head, title=f"{Path(list_file).name}: {head} head")
                print(format_table(rep, f"{head} head:"))
            print(f"results: {out / 'results.json'}")
            result["out_dir"] = str(out)
        result["predictions"] = preds
        return result
    finally:
        cleanup()
