"""Planning the study from what ``dkclip ablate`` was asked (:class:`AblateOptions`): the presets, seeds and
experiments, and per preset a :class:`StudyPart` (its base recipe, the phases it runs, its test sets), with the
datasets it needs generated when absent (:mod:`dkclip.ablation.heldout`).

The run keys of each part are filled in later, when :func:`dkclip.ablation.runner.run_study` plans the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..engine.run_config import TrainConfig
from .grid import (
    FULL_SEEDS,
    QUICK_SEEDS,
    AblationSetting,
    Experiment,
    build_base_config,
    build_grid,
    phase_plan,
    select_experiments,
)
from .heldout import QUICK_HELDOUT_PER_CLASS, TestSet, ensure_synth, heldout_spec, per_class_subset, training_spec


@dataclass
class StudyPart:
    """One preset of the study: its base recipe, the experiments of each of its phases, its test sets, and (filled
    while planning) the (experiment id, seed) → run key map."""

    preset: str
    base: TrainConfig
    phases: list[list[Experiment]]
    test_sets: list[TestSet]
    heldout_command: str
    cells: dict[tuple[str, int], str] = field(default_factory=dict)

    @property
    def experiments(self) -> list[Experiment]:
        return [e for exps in self.phases for e in exps]


@dataclass(frozen=True)
class AblateOptions:
    """The options of ``dkclip ablate`` (its ``--help`` describes each); the defaults are the command's."""

    quick: bool = False
    out_dir: str = "runs/ablate"  # run directories with the kept weights
    records_dir: str | None = None  # records, predictions and summary; None: out_dir
    seeds: list[int] | None = None  # None: FULL_SEEDS (quick: QUICK_SEEDS)
    presets: list[str] | None = None  # None: aligned and wild (quick: aligned)
    data: str = "data/synth"
    heldout: str = "data/synth-heldout"
    wild_data: str = "data/synth-wild"
    wild_heldout: str = "data/synth-heldout-wild"
    fold: int = 1
    report: str | None = "docs/results-synthetic.md"  # the document whose block is replaced; None: none
    report_only: bool = False
    au_evidence: bool = False
    config: str = "synthetic_tiny"
    experiments: list[str] | None = None  # ids, tables or globs; None: the whole grid
    overrides: list[str] = field(default_factory=list)

    @property
    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds else list(QUICK_SEEDS if self.quick else FULL_SEEDS)

    @property
    def records_root(self) -> Path:
        return Path(self.records_dir) if self.records_dir else Path(self.out_dir)

    def setting(self) -> AblationSetting:
        return AblationSetting(mode="quick" if self.quick else "full", base_config=self.config,
                               data_root=str(self.data), fold=self.fold, seeds=self.seed_list,
                               extra_overrides=list(self.overrides))


def plan_parts(options: AblateOptions) -> dict[str, StudyPart]:
    """preset → its part, in running order. Generates the training data and the held-out set of each preset
    when their folders are absent; in quick mode, writes the held-out subset list under ``out_dir``."""
    presets = list(options.presets or (["aligned"] if options.quick else ["aligned", "wild"]))
    chosen = select_experiments(build_grid(), options.experiments)
    parts: dict[str, StudyPart] = {}
    for preset, exps in phase_plan(presets, chosen, options.quick):
        if preset not in parts:
            parts[preset] = _part(options, preset)
        parts[preset].phases.append(exps)
    return parts


def _part(options: AblateOptions, preset: str) -> StudyPart:
    train_root = Path(options.data if preset == "aligned" else options.wild_data)
    held_root = Path(options.heldout if preset == "aligned" else options.wild_heldout)
    ensure_synth(training_spec(train_root, preset))
    spec = heldout_spec(held_root, preset)
    standard = ensure_synth(spec)
    held_list = held_root / "set_1_test.txt"
    if options.quick:
        held_list = per_class_subset(held_list, QUICK_HELDOUT_PER_CLASS,
                                     Path(options.out_dir) / preset / f"heldout-{QUICK_HELDOUT_PER_CLASS}.txt")
    cfg = build_base_config(train_root, options.fold, options.quick, options.overrides, options.config)
    assert cfg.data.root is not None and cfg.data.test_list is not None
    test_sets = [TestSet("heldout", str(held_root), str(held_list)), TestSet("fold", cfg.data.root, cfg.data.test_list)]
    command = spec.command() if standard else f"a custom dataset in {held_root}"
    return StudyPart(preset, cfg, [], test_sets, command)
