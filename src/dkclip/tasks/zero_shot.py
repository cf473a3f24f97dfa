"""Zero-shot evaluation: frame-averaged CLIP features against each prompt set of the paper's Table 6, no
training. Works with any CLIP weights (real OpenAI CLIP too)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..constants import NORMALIZATIONS
from ..engine.builders import eval_loader, split_dataset
from ..engine.config import TrainConfig
from ..engine.distributed import cleanup, init_distributed
from ..engine.inference import predict
from ..engine.reports import format_table
from ..factory import create_model
from ..fileio import atomic_write_json
from ..prompts import class_names_for, resolve_prompts

# Table 6: a class names, the paper's wording, e AU-enriched with "or" (default), d AU-enriched with "and".
TABLE6_SETS = ("classnames", "paper", "", "and")


def table6_prompt_sets(base: str) -> list[str]:
    return [f"{base}_{suffix}" if suffix else base for suffix in TABLE6_SETS]


def zero_shot(model_name: str, clip_weights: str | None, cfg: TrainConfig, list_file: str | None = None,
              prompt_sets: list[str] | None = None, out_dir: str | Path | None = None,
              pretrained: str | None = None, trust_torchscript: bool = False) -> dict[str, Any]:
    """Score a CLIP zero-shot: frame-averaged image features against each prompt set.

    Normalisation: ``data.normalize`` when set, else the pretrained tag's, else CLIP's own statistics (zero-shot
    uses CLIP as it was trained, so OpenAI's files get OpenAI's preprocessing).
    """
    info = init_distributed(cfg.run.device)
    try:
        prompt_sets = prompt_sets or table6_prompt_sets(cfg.model.prompts)
        norm = cfg.data.normalize or (None if pretrained or clip_weights == "default" else "clip")
        stats = dict(zip(("image_mean", "image_std"), NORMALIZATIONS[norm], strict=True)) if norm else {}
        # avgpool + no CMAM/NRM is exactly CLIP: per-frame image features averaged over the clip.
        model = create_model(model_name, pretrained=pretrained, clip_weights=clip_weights, prompts=prompt_sets[0],
                             trust_torchscript=trust_torchscript, temporal="avgpool", use_cmam=False, use_nrm=False,
                             num_frames=cfg.data.eval_num_frames or cfg.data.num_frames, **stats).to(info.device)
        key = "--list" if list_file else "data.test_list"
        list_file = list_file or cfg.data.test_list
        dataset = split_dataset(cfg, list_file, "test", model.config, key)
        results: dict[str, Any] = {"model": model_name, "clip_weights": str(clip_weights), "list": str(list_file),
                                   "prompt_sets": {}}
        for name in prompt_sets:
            prompts = resolve_prompts(name)
            names = list(class_names_for(name) or [f"class{i}" for i in range(len(prompts))])
            model.set_prompts(prompts, names)
            preds = predict(model, eval_loader(dataset, cfg, info), info)
            rep = preds.report("global", names)
            results["prompt_sets"][name] = {"prompts": prompts, **rep.as_dict()}
            if info.is_main:
                print(format_table(rep, f"zero-shot, prompts {name}:"))
        if info.is_main and out_dir is not None:
            atomic_write_json(Path(out_dir) / "zero_shot.json", results)
        return results
    finally:
        cleanup()
