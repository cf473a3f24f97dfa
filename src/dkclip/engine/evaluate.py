"""``evaluate``: a trained model on a list file, full-set UAR/WAR for the global, local and fused heads,
single- or multi-view, gathered across ranks under torchrun."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_json
from .config import TrainConfig
from .distributed import cleanup, init_distributed
from .evaluation import HEADS, format_table, predict, summarize, write_report_files
from .inference_io import load_trained_model
from .trainer import class_names_of, eval_loader, resolve_amp, split_dataset

logger = logging.getLogger(__name__)


def evaluate(model_path: str | Path, cfg: TrainConfig, list_file: str | None = None,
             out_dir: str | Path | None = None) -> dict[str, Any]:
    info = init_distributed(cfg.run.device)
    try:
        model, run_dir = load_trained_model(model_path)
        model = model.to(info.device)
        list_file = list_file or cfg.data.test_list
        if not list_file:
            raise ValueError("no list to evaluate: pass --list or set data.test_list")
        frames = cfg.data.eval_num_frames or cfg.data.num_frames
        dataset = split_dataset(cfg, list_file, "test", frames, model.config.image_size, model.num_classes,
                           num_clips=cfg.eval.num_clips, num_crops=cfg.eval.num_crops)
        amp_dtype, _ = resolve_amp(cfg.run.amp, info.device)
        loader = eval_loader(dataset, cfg, info)
        preds = predict(model, loader, info, amp_dtype)
        names = class_names_of(model)
        summary = summarize(preds, names)
        result = {"model": str(model_path), "list": str(list_file), "num_clips": int(preds.labels.size),
                  "views": {"clips": cfg.eval.num_clips, "crops": cfg.eval.num_crops, "frames": frames},
                  "reported_head": cfg.eval.head, "heads": summary, "data": loader.report.summary()}
        if info.is_main:
            out = Path(out_dir) if out_dir else (run_dir or Path(".")) / f"eval-{Path(list_file).stem}"
            out.mkdir(parents=True, exist_ok=True)
            atomic_write_json(out / "results.json", result)
            for head in HEADS:
                rep = preds.report(head, names)
                write_report_files(rep, out, head, title=f"{Path(list_file).name}: {head} head")
                print(format_table(rep, f"{head} head:"))
            print(f"results: {out / 'results.json'}")
            result["out_dir"] = str(out)
        return result
    finally:
        cleanup()
