"""Zero-shot evaluation: frame-averaged CLIP features against each prompt set of the paper's Table 6, no
training. Works with any CLIP weights (real OpenAI CLIP too).

Writes the same reports as ``evaluate``, one folder per prompt set (``OUT/<prompt set>/``): ``predictions.csv``
(per clip: path, label, predicted class and class probabilities), ``per_class.csv``, ``confusion.csv`` and
``confusion.png``; ``OUT/zero_shot.json`` holds every set's metrics. Only the global head exists here (a CLIP has
no local head and no NRM), so the files have its columns only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..data.errors import DataError
from ..engine.builders import eval_loader, split_dataset
from ..engine.distributed import cleanup, init_distributed
from ..engine.inference import predict
from ..engine.reports import format_table, write_per_class_csv, write_predictions_csv, write_report_files
from ..engine.run_config import TrainConfig
from ..fileio import atomic_write_json
from ..prompts import resolve_prompts
from ..zero_shot import create_zero_shot_model, prompt_class_names

# Table 6: a class names, the paper's wording, e AU-enriched with "or" (default), d AU-enriched with "and".
TABLE6_SETS = ("classnames", "paper", "", "and")


def table6_prompt_sets(base: str) -> list[str]:
    return [f"{base}_{suffix}" if suffix else base for suffix in TABLE6_SETS]


def _folder_name(prompt_set: str) -> str:
    """A prompt set's report folder: its name, or a CSV file's stem."""
    return Path(prompt_set).stem if prompt_set.endswith(".csv") else prompt_set


def zero_shot(model_name: str, clip_weights: str | None, cfg: TrainConfig, list_file: str | None = None,
              prompt_sets: list[str] | None = None, out_dir: str | Path | None = None,
              pretrained: str | None = None, trust_torchscript: bool = False) -> dict[str, Any]:
    """Score a CLIP zero-shot: frame-averaged image features against each prompt set.

    Normalisation: ``data.normalize`` when set, else the statistics the weights were trained with
    (:func:`dkclip.zero_shot.zero_shot_normalization`: a pretrained tag's, CLIP's for any other CLIP file).
    """
    info = init_distributed(cfg.run.device)
    try:
        prompt_sets = prompt_sets or table6_prompt_sets(cfg.model.prompts)
        model = create_zero_shot_model(clip_weights, prompt_sets[0], model_name, pretrained=pretrained,
                                       num_frames=cfg.data.eval_num_frames or cfg.data.num_frames,
                                       normalize=cfg.data.normalize, trust_torchscript=trust_torchscript)
        model = model.to(info.device)
        key = "--list" if list_file else "data.test_list"
        list_file = list_file or cfg.data.test_list
        dataset = split_dataset(cfg, list_file, "test", model.config, key)
        out = Path(out_dir) if out_dir is not None else Path(f"zero-shot-{Path(str(list_file)).stem}")
        results: dict[str, Any] = {"model": model_name, "clip_weights": str(clip_weights), "list": str(list_file),
                                   "num_clips": None, "prompt_sets": {}}
        paths = [r.path for r in dataset.records]
        for name in prompt_sets:
            prompts = resolve_prompts(name)
            names = prompt_class_names(name, prompts)
            model.set_prompts(prompts, names)
            loader = eval_loader(dataset, cfg, info)
            preds = predict(model, loader, info)
            if preds.labels.size == 0:
                raise DataError(f"{list_file}: every clip was skipped as unreadable ({loader.report.summary()})")
            results["num_clips"] = int(preds.labels.size)
            rep = preds.report("global", names)
            results["prompt_sets"][name] = {"prompts": prompts, **rep.as_dict()}
            if info.is_main:
                folder = out / _folder_name(name)
                write_predictions_csv(preds, paths, names, folder / "predictions.csv", heads=("global",))
                write_per_class_csv({"global": rep}, folder / "per_class.csv")
                write_report_files(rep, folder, "", title=f"zero-shot, prompts {name}")
                print(format_table(rep, f"zero-shot, prompts {name}:"))
        if info.is_main:
            atomic_write_json(out / "zero_shot.json", results)
            print(f"results: {out / 'zero_shot.json'} (per prompt set: predictions.csv, per_class.csv, confusion)")
            results["out_dir"] = str(out)
        return results
    finally:
        cleanup()
