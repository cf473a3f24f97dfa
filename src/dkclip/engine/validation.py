"""Checks of a run that need its data, made after the datasets are built and before any training step, so that
a mistake costs seconds, never an epoch: batch sizes against the data, the validation split (not empty, no clip
shared with training), duplicate list lines, and the classes of the data against the model's prompts.
(Checks of the config values alone are in :func:`dkclip.engine.config_checks.validate`.)
"""

from __future__ import annotations

import logging
from collections import Counter

from ..data.dataset import ClipDataset
from ..errors import ConfigError
from ..model.dkclip import DKClip
from .run_config import TrainConfig

logger = logging.getLogger(__name__)


def _paths(ds: ClipDataset) -> set[str]:
    return {r.path for r in ds.records}


def check_before_training(cfg: TrainConfig, model: DKClip, train: ClipDataset, val: ClipDataset | None,
                          test: ClipDataset | None, world_size: int) -> None:
    s, d = cfg.schedule, cfg.data
    per_step = s.batch_size * world_size
    if s.effective_batch % per_step:
        raise ConfigError(f"schedule.effective_batch ({s.effective_batch}) must be a multiple of "
                          f"schedule.batch_size × world size ({s.batch_size} × {world_size})")
    if len(train) < s.effective_batch:
        raise ConfigError(f"schedule.effective_batch ({s.effective_batch}) is larger than the training split "
                          f"({len(train)} clips{' after the validation carve' if val is not None else ''}): an "
                          "epoch would take no optimiser step", hint="lower schedule.effective_batch/batch_size")

    duplicates = [p for p, n in Counter(r.path for r in train.records).items() if n > 1]
    if duplicates and not d.allow_duplicates:
        raise ConfigError(f"data.train_list: {len(duplicates)} clips are listed more than once (e.g. "
                          f"{duplicates[0]}); they would be sampled more often",
                          hint="fix the list (dkclip prepare check reports duplicates), or set "
                               "data.allow_duplicates=true if that is intended")

    if val is not None:
        where = "data.val_list" if d.val_list else f"the validation carve (data.val_fraction={d.val_fraction})"
        if len(val) == 0:
            raise ConfigError(f"{where} is empty ({len(train)} training clips)",
                              hint="raise data.val_fraction, give data.val_list, or set eval.select=last")
        shared = _paths(val) & _paths(train)
        if shared:
            raise ConfigError(f"{where} shares {len(shared)} of its {len(val)} clips with the training split (e.g. "
                              f"{next(iter(sorted(shared)))}): validation would be optimistic")
    if test is not None:
        shared = _paths(test) & _paths(train)
        if shared:
            raise ConfigError(f"data.test_list shares {len(shared)} of its {len(test)} clips with the training split "
                              f"(e.g. {next(iter(sorted(shared)))})", hint="check the fold of the two lists")

    k = model.num_classes
    present = {r.label for r in train.records}
    missing = [i for i in range(k) if i not in present]
    if missing and not d.allow_missing_classes:
        names = model.config.class_labels
        raise ConfigError(f"model.prompts has {k} classes but the training data has no clip of "
                          f"{len(missing)} of them ({', '.join(names[i] for i in missing[:6])}"
                          f"{', ...' if len(missing) > 6 else ''}); labels found: {sorted(present)}",
                          hint="use the prompt set of the dataset (dfew/ferv39k: 7 classes, mafw: 11), or set "
                               "data.allow_missing_classes=true")
