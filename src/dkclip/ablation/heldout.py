"""The study's datasets: the training data of each preset and the large held-out test sets.

**Identities.** The generator draws an identity's face from ``SeedSequence([dataset seed, 1, identity])``
(:func:`dkclip.synth.identity.identity_rng`), so a person is defined by the pair (dataset seed, identity index).
The shipped CLIP was pretrained on seed ``2**40`` (its zero-shot probe on ``2**40 + 10_099``;
``dkclip.pretrain``), the study fine-tunes on the demo dataset (seed 0). The held-out sets use seed
:data:`HELDOUT_SEED` (7000), so none of their identities, and none of their clips (``SeedSequence([seed, 2,
index])``), was seen in pretraining or fine-tuning.

**The held-out set** of a preset: 100 clips per class (700), one fold, so every clip is in ``set_1_test.txt``;
generated deterministically (byte-identical files) by::

    dkclip synth --out data/synth-heldout --clips-per-class 100 --seed 7000 --folds 1
    dkclip synth --out data/synth-heldout-wild --preset wild --clips-per-class 100 --seed 7000 --folds 1

and the wild preset's training data (the demo dataset's settings on the wild preset) by::

    dkclip synth --out data/synth-wild --preset wild

``dkclip ablate`` generates whichever is missing (about 40 s for 700 clips on the 2-core CPU).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import UsageError

logger = logging.getLogger(__name__)

HELDOUT_SEED = 7000
HELDOUT_CLIPS_PER_CLASS = 100
QUICK_HELDOUT_PER_CLASS = 20  # --quick evaluates on the first 20 clips per class (140) of the held-out list
TRAIN_SEED = 0  # the demo dataset's seed (dkclip.commands.demo.SYNTH_ARGS)
TRAIN_CLIPS_PER_CLASS = 20
TRAIN_FOLDS = 5
FRAMES = (16, 48)
NUM_CLASSES = 7


@dataclass(frozen=True)
class SynthSpec:
    """A synthetic dataset the study needs: where it lives and the generator arguments that make it."""

    root: Path
    preset: str
    seed: int
    clips_per_class: int
    folds: int

    def command(self) -> str:
        """The ``dkclip synth`` command that writes exactly this dataset."""
        parts = ["dkclip synth", f"--out {self.root}"]
        if self.preset != "aligned":
            parts.append(f"--preset {self.preset}")
        if self.clips_per_class != 20:
            parts.append(f"--clips-per-class {self.clips_per_class}")
        if self.seed != 0:
            parts.append(f"--seed {self.seed}")
        if self.folds != 5:
            parts.append(f"--folds {self.folds}")
        return " ".join(parts)


def training_spec(root: str | Path, preset: str) -> SynthSpec:
    return SynthSpec(Path(root), preset, TRAIN_SEED, TRAIN_CLIPS_PER_CLASS, TRAIN_FOLDS)


def heldout_spec(root: str | Path, preset: str) -> SynthSpec:
    return SynthSpec(Path(root), preset, HELDOUT_SEED, HELDOUT_CLIPS_PER_CLASS, 1)


def _matches(meta: dict, spec: SynthSpec) -> bool:
    from ..synth import GENERATOR_VERSION

    counts = meta.get("counts", {})
    per_class = counts.get("clips_per_class") or [None]
    return (meta.get("generator_version"), meta.get("seed"), meta.get("preset", "aligned"), meta.get("num_classes"),
            per_class[0], meta.get("frames_per_clip"), meta.get("folds")) == (
        GENERATOR_VERSION, spec.seed, spec.preset, NUM_CLASSES, spec.clips_per_class, list(FRAMES), spec.folds)


def ensure_synth(spec: SynthSpec, workers: int = 1) -> bool:
    """Generate ``spec`` into its folder when the folder is absent or empty; a folder that already holds a
    synthetic dataset is used as it is. Returns whether the folder holds exactly ``spec`` (the report names the
    command only then). A non-empty folder without a dataset is an error."""
    from ..synth import generate_dataset, preset_config

    meta_file = spec.root / "meta.json"
    if meta_file.is_file():
        same = _matches(json.loads(meta_file.read_text()), spec)
        if not same:
            logger.warning("%s holds another synthetic dataset than `%s`; it is used as it is", spec.root,
                           spec.command())
        return same
    if spec.root.exists() and any(spec.root.iterdir()):
        raise UsageError(f"{spec.root} is not empty and holds no synthetic dataset", hint="pass another folder")
    logger.info("synthesising %s (%s)", spec.root, spec.command())
    generate_dataset(spec.root, num_classes=NUM_CLASSES, clips_per_class=spec.clips_per_class, seed=spec.seed,
                     frames=FRAMES, folds=spec.folds, config=preset_config(spec.preset), overwrite=True,
                     workers=workers)
    return True


@dataclass(frozen=True)
class TestSet:
    """A list of test clips: ``name`` (``heldout`` or ``fold``), the dataset root, the list file."""

    __test__ = False  # not a pytest test class

    name: str
    root: str
    list_file: str


def per_class_subset(list_file: Path, per_class: int, out: Path) -> Path:
    """The first ``per_class`` lines of each class of ``list_file`` (list order), written to ``out`` (unless it
    already holds exactly that); returns ``out``. Labels are the last field of a line."""
    from ..fileio import atomic_write_text

    taken: dict[str, int] = {}
    lines = []
    for line in list_file.read_text().splitlines():
        if not line.strip():
            continue
        label = line.split()[-1]
        if taken.get(label, 0) < per_class:
            taken[label] = taken.get(label, 0) + 1
            lines.append(line)
    text = "".join(f"{line}\n" for line in lines)
    if not out.is_file() or out.read_text() != text:
        atomic_write_text(out, text)
    return out
