"""``dkclip ablate``: the paper's ablation study in miniature on the synthetic dataset (issue 5 §4, issue 13).

Every experiment fine-tunes ``dkclip-tiny`` from the shipped pretrained CLIP weights with the ``synthetic_tiny``
recipe (as it stands when the study runs), changes only the knobs its table ablates, and is then evaluated on a
large held-out test set of its preset (700 clips of identities never seen in pretraining or fine-tuning) and on the
fold's own test split; the per-clip predictions are stored, and the claims are decided by paired tests on them.

The design notes live with the code they describe:

- :mod:`~dkclip.ablation.grid`: the experiments (Tables 4-5, Fig. 3, the NRM's normalisation), their knobs, the
  frames each trains on, the phases, the base recipe and quick mode;
- :mod:`~dkclip.ablation.heldout`: the datasets, the held-out sets and why their identities are new;
- :mod:`~dkclip.ablation.keys`: run keys (resolved config + input fingerprints), so shared configurations train
  once per seed;
- :mod:`~dkclip.ablation.plan`: the command's options, the presets' parts of the study and their data;
- :mod:`~dkclip.ablation.runner`: planning shared runs, running, evaluating and resuming them, the files;
- :mod:`~dkclip.ablation.evaluation`: a run's kept weights on the test sets, test-time NRM variants;
- :mod:`~dkclip.ablation.predictions`: the per-clip predictions file;
- :mod:`~dkclip.ablation.noise`: the NRM as a noise detector against the generator's noise flags;
- :mod:`~dkclip.ablation.paired`: intervals and paired tests, per seed and seeds pooled;
- :mod:`~dkclip.ablation.records`: the typed per-run records; :mod:`~dkclip.ablation.typed`: the one loader of
  every record's JSON (``from_dict``; ``dataclasses.asdict`` writes them);
- :mod:`~dkclip.ablation.study`: records + predictions → cells, claims and verdicts, the presets compared;
  :mod:`~dkclip.ablation.claims`: the paired claims and their verdicts; :mod:`~dkclip.ablation.summary`: the
  summary's records (``ablation.json``);
- :mod:`~dkclip.ablation.report`: the Markdown tables, the block between markers, the per-run CSV;
- :mod:`~dkclip.ablation.au_study`: the action-unit evidence measured against the generator's AU intensities.

The committed study is ``docs/ablation/`` (``ablation.json``, and per preset ``results/<key>.json`` and
``predictions/<key>.<set>.csv.gz``), rendered between the markers of ``docs/results-synthetic.md``:
``render_report(load_summary(path))`` re-renders it. The first study (28 test clips, no stored predictions) is
kept in ``docs/ablation/v1``.
"""

from __future__ import annotations

from .grid import AblationSetting, Experiment, build_base_config, build_grid, select_experiments
from .plan import AblateOptions, StudyPart
from .records import RunRecord
from .report import render_report
from .runner import run_ablation, run_study
from .summary import StudySummary, load_summary

__all__ = [
    "AblateOptions",
    "AblationSetting",
    "Experiment",
    "RunRecord",
    "StudyPart",
    "StudySummary",
    "build_base_config",
    "build_grid",
    "load_summary",
    "render_report",
    "run_ablation",
    "run_study",
    "select_experiments",
]
