"""The grid: the experiments of Tables 4-5 and Fig. 3, the knobs each changes, and the run config of one
experiment and seed.

**The grid** (``<table>/<name>``; the full model is temporal=hierarchical, N=4 snippets, θ=0.15, AU-enriched
prompts ``dfew``, CMAM, NRM and the consistency losses on):

- ``table4/baseline``: avgpool over frames, class-name prompts (``dfew_classnames``), no CMAM/NRM/consistency;
  ``table4/+HVE``: hierarchical encoder; ``table4/+ETP``: + AU-enriched prompts + CMAM; ``table4/+CCR``: + NRM +
  consistency losses (= the full model).
- ``table5/a`` avgpool, ``table5/b`` transformer, ``table5/c`` cross_frame, ``table5/d`` hierarchical, everything
  else as the full model.
- ``theta/<θ>`` for θ in 0, 0.1, 0.15, 0.2, 0.25 and ``snippets/<N>`` for N in 1, 2, 4, 8, full model otherwise.
- ``nrm/zscore`` and ``nrm/none``: the full model trained with another NRM normalisation (``nrm_norm``; Eq. 9's
  min-max is the default), issue 13 §2. The full model's runs are also evaluated with both at test time.

The temporal model, N, CMAM, NRM and θ are model options (``model.options``); the consistency losses are the
run-config switch ``loss.use_consistency``.

**Frames.** The recipe trains on few frames (4) and evaluates on ``data.eval_num_frames`` (16): every
experiment is evaluated at that T. Training uses the recipe's frame count rounded up to a multiple of N
(N=8 trains on 8 frames, N=1, 2, 4 on 4). The frame-level temporal models (Table 5 b transformer, c cross_frame)
have a positional embedding per frame, so they must see the same T in training and testing: they train on the
evaluation T (16), which gives them 4x the frames per training clip of a and d (stated in the report).

**Phases.** The full study runs, in this order, so that the most important results come first: (1) Tables 4 and 5
on the aligned preset, (2) θ, N and the NRM variants on the aligned preset, (3) Tables 4 and 5 on the wild preset
(training data and held-out set both wild). Seeds are the outer loop inside a phase.

**Quick mode** (``--quick``): one seed (0), 8 epochs, ``eval.select=last`` (no validation carve-out; nothing is
evaluated before the last epoch), T=16 evaluation kept, aligned preset only and without the ``nrm`` table: 14
trainings, each evaluated on 140 held-out clips (20 per class). Measured: 824 s (13.7 min) for the whole command,
report included, on the idle 2-core CPU (2026-11-29): about 45 s per 4-frame run, 2 min for Table 5 b and c (16
training frames), 1 min for N = 8.
Full mode: seeds 0 1 2 with the recipe's own epochs (15) and validation selection, 69 distinct trainings (48
aligned, 21 wild): 258 min of recorded run time; as two or three processes of one thread each on the 2 cores,
61 of them took 1 h 40 min of wall time (docs/results-synthetic.md).
"""

from __future__ import annotations

import copy
import dataclasses
import fnmatch
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine.config_checks import validate
from ..engine.run_config import TrainConfig, apply_overrides, load_config
from ..errors import ConfigError
from .records import Knobs

# The whole --quick command, measured (module docstring); used only in the docs and --help.
QUICK_ESTIMATE = "14 minutes measured on the idle 2-core CPU"
QUICK_OVERRIDES: tuple[str, ...] = ("schedule.epochs=8", "eval.select=last", "eval.every=8")
QUICK_SEEDS: tuple[int, ...] = (0,)
FULL_SEEDS: tuple[int, ...] = (0, 1, 2)

FULL_MODEL = Knobs(temporal="hierarchical", num_snippets=4, use_cmam=True, use_nrm=True, nrm_theta=0.15,
                   use_consistency=True)
AU_PROMPTS, CLASS_NAME_PROMPTS = "dfew", "dfew_classnames"
THETAS: tuple[float, ...] = (0.0, 0.1, 0.15, 0.2, 0.25)
SNIPPETS: tuple[int, ...] = (1, 2, 4, 8)
# The cells the full model fills, in the order the report looks for its noise-detection measures.
FULL_MODEL_CELLS: tuple[str, ...] = ("table4/+CCR", "table5/d", "theta/0.15", "snippets/4")

NRM_NORMS: tuple[str, ...] = ("zscore", "none")  # the trained variants besides Eq. 9's min-max
TABLES: dict[str, str] = {
    "table4": "Table 4: components (baseline → +HVE → +ETP → +CCR)",
    "table5": "Table 5: temporal models",
    "theta": "Fig. 3: NRM threshold θ",
    "snippets": "Fig. 3: number of snippets N",
    "nrm": "The NRM's normalisation (issue 13 §2; not in the paper)",
}
PRESETS: tuple[str, ...] = ("aligned", "wild")
# (preset, tables) in the order the full study runs them; --quick runs only the first entry's preset, no "nrm".
PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("aligned", ("table4", "table5")),
    ("aligned", ("theta", "snippets", "nrm")),
    ("wild", ("table4", "table5")),
)
QUICK_TABLES: tuple[str, ...] = ("table4", "table5", "theta", "snippets")


@dataclass(frozen=True)
class Experiment:
    table: str
    name: str
    prompts: str
    knobs: Knobs
    train_on_eval_frames: bool = False  # frame-level temporal models need the same T in training and testing

    @property
    def id(self) -> str:
        return f"{self.table}/{self.name}"


@dataclass
class AblationSetting:
    """How the study was invoked: what the report's setting line states besides the base config itself."""

    mode: str
    base_config: str
    data_root: str | None
    fold: int | None
    seeds: list[int]
    extra_overrides: list[str]


def _full(**changes: Any) -> Knobs:
    return dataclasses.replace(FULL_MODEL, **changes)


def build_grid() -> list[Experiment]:
    bare: dict[str, Any] = {"temporal": "avgpool", "use_cmam": False, "use_nrm": False, "use_consistency": False}
    grid = [
        Experiment("table4", "baseline", CLASS_NAME_PROMPTS, _full(**bare)),
        Experiment("table4", "+HVE", CLASS_NAME_PROMPTS, _full(**{**bare, "temporal": "hierarchical"})),
        Experiment("table4", "+ETP", AU_PROMPTS, _full(use_nrm=False, use_consistency=False)),
        Experiment("table4", "+CCR", AU_PROMPTS, _full()),
        Experiment("table5", "a", AU_PROMPTS, _full(temporal="avgpool")),
        Experiment("table5", "b", AU_PROMPTS, _full(temporal="transformer"), train_on_eval_frames=True),
        Experiment("table5", "c", AU_PROMPTS, _full(temporal="cross_frame"), train_on_eval_frames=True),
        Experiment("table5", "d", AU_PROMPTS, _full()),
    ]
    grid += [Experiment("theta", f"{t:g}", AU_PROMPTS, _full(nrm_theta=t)) for t in THETAS]
    grid += [Experiment("snippets", str(n), AU_PROMPTS, _full(num_snippets=n)) for n in SNIPPETS]
    grid += [Experiment("nrm", norm, AU_PROMPTS, _full(nrm_norm=norm)) for norm in NRM_NORMS]
    return grid


def phase_plan(presets: Sequence[str], chosen: list[Experiment], quick: bool) -> list[tuple[str, list[Experiment]]]:
    """(preset, experiments) in running order: the :data:`PHASES` restricted to ``presets`` and ``chosen``."""
    plan = []
    for preset, tables in PHASES:
        if preset not in presets:
            continue
        exps = [e for e in chosen if e.table in tables and not (quick and e.table not in QUICK_TABLES)]
        if exps:
            plan.append((preset, exps))
    return plan


def select_experiments(grid: list[Experiment], patterns: Sequence[str] | None) -> list[Experiment]:
    """Experiments matching any pattern: an id (``table4/+HVE``), a table (``theta``) or a glob (``table5/*``)."""
    if not patterns:
        return list(grid)
    chosen: list[Experiment] = []
    for pattern in patterns:
        hits = [e for e in grid if e.table == pattern or e.id == pattern or fnmatch.fnmatchcase(e.id, pattern)]
        if not hits:
            known = ", ".join(e.id for e in grid)
            raise ConfigError(f"unknown experiment {pattern!r}; known: {known} (or a table name: "
                              f"{', '.join(TABLES)}, or a glob such as 'table5/*')")
        chosen += [e for e in hits if e not in chosen]
    return [e for e in grid if e in chosen]  # grid order


def experiment_config(base: TrainConfig, exp: Experiment, seed: int) -> TrainConfig:
    """The run config of one experiment and seed: the base recipe with the experiment's knobs."""
    if "use_consistency" in base.model.options:
        raise ConfigError("model.options.use_consistency is a training setting now: set loss.use_consistency "
                          "instead (the ablation sets it per experiment)")
    cfg = copy.deepcopy(base)
    cfg.model.prompts = exp.prompts
    cfg.model.options = {**cfg.model.options, **exp.knobs.model_options()}
    cfg.loss.use_consistency = exp.knobs.use_consistency
    n = exp.knobs.num_snippets
    eval_t = base.data.eval_num_frames or base.data.num_frames
    if eval_t % n:
        raise ConfigError(f"{exp.id}: evaluation frames ({eval_t}) must be a multiple of N = {n}")
    cfg.data.num_frames = eval_t if exp.train_on_eval_frames else math.ceil(base.data.num_frames / n) * n
    cfg.data.eval_num_frames = eval_t
    cfg.run.seed = seed
    validate(cfg)
    return cfg


def build_base_config(data_root: str | Path | None, fold: int, quick: bool, overrides: Sequence[str],
                      config: str = "synthetic_tiny") -> TrainConfig:
    """The recipe every run starts from: ``config`` + data paths for ``fold`` + quick settings + ``--set``."""
    pre: list[str] = []
    if data_root is not None:
        root = Path(data_root)
        pre += [f"data.root={root}", f"data.train_list={root / f'set_{fold}_train.txt'}",
                f"data.test_list={root / f'set_{fold}_test.txt'}"]
    pre += ["run.progress=false", "run.tensorboard=false"]  # the ablation logs its own progress
    if quick:
        pre += list(QUICK_OVERRIDES)
    cfg = load_config(config, pre)
    apply_overrides(cfg, list(overrides))
    validate(cfg)
    return cfg
