"""``dkclip ablate``: the paper's ablation study in miniature on the synthetic dataset (issue 5 §4).

Every experiment fine-tunes ``dkclip-tiny`` from the shipped pretrained CLIP weights with the ``synthetic_tiny``
recipe (as it stands when the study runs), changes only the knobs its table ablates, and reports test-split
UAR/WAR of the head the engine reports (``eval.head``, the global head by default, as the paper), mean ± std
(population std, as ``dkclip cv``) over seeds.

The design notes live with the code they describe:

- :mod:`~dkclip.ablation.grid`: the experiments (Tables 4-5, Fig. 3), their knobs, the frames each trains on,
  the base recipe and quick mode;
- :mod:`~dkclip.ablation.keys`: run keys (resolved config + input fingerprints), so shared configurations train
  once per seed;
- :mod:`~dkclip.ablation.runner`: planning shared runs, running and resuming them, the files under ``--out-dir``;
- :mod:`~dkclip.ablation.noise`: the NRM as a noise detector against the generator's noise flags;
- :mod:`~dkclip.ablation.records`: the typed records (runs, cells, checks, the summary) and their JSON;
- :mod:`~dkclip.ablation.summary`: records → mean ± std per cell, checks and the setting;
- :mod:`~dkclip.ablation.checks`: the direction checks and their verdicts;
- :mod:`~dkclip.ablation.report`: the Markdown tables, the block between markers, the per-run CSV.

The finished full study is committed as ``docs/ablation/ablation.json`` (+ ``results/<key>.json`` per run) and
rendered between the markers of ``docs/results-synthetic.md``: ``render_report(load_summary(path))``
re-renders it.
"""

from __future__ import annotations

import json
from pathlib import Path

from .grid import AblationSetting, Experiment, build_base_config, build_grid, select_experiments
from .records import RunRecord, Summary
from .report import render_report
from .runner import run_ablation

__all__ = [
    "AblationSetting",
    "Experiment",
    "RunRecord",
    "Summary",
    "build_base_config",
    "build_grid",
    "load_summary",
    "render_report",
    "run_ablation",
    "select_experiments",
]


def load_summary(path: str | Path) -> Summary:
    """A study's ``ablation.json`` (of this or an earlier format)."""
    return Summary.from_dict(json.loads(Path(path).read_text()))
