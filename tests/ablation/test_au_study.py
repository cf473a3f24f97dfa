"""The committed AU evidence study (``docs/ablation/au_evidence.json``): typed records read with the one loader,
written back byte for byte, and rendered to the block committed in docs/results-synthetic.md."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from ablation_helpers import RESULTS_DOC, STUDY

from dkclip.ablation.au_study import BEGIN_MARKER, END_MARKER, AUStudy, load_au_study, render_au_study
from dkclip.fileio import atomic_write_json

AU_FILE = STUDY / "au_evidence.json"
pytestmark = pytest.mark.skipif(not AU_FILE.is_file(), reason="no committed AU evidence study")


def test_the_committed_au_study_loads_typed_and_is_rewritten_byte_for_byte(tmp_path: Path) -> None:
    study = load_au_study(AU_FILE)
    assert isinstance(study, AUStudy) and list(study.models) == ["shipped CLIP", "fine-tuned"]
    assert all(len(m.aus) == 17 and m.clips == 700 for m in study.models.values())
    atomic_write_json(tmp_path / "au.json", dataclasses.asdict(study))
    assert (tmp_path / "au.json").read_bytes() == AU_FILE.read_bytes()


def test_the_committed_au_study_renders_to_the_committed_block() -> None:
    text = RESULTS_DOC.read_text()
    begin, end = text.index(BEGIN_MARKER), text.index(END_MARKER) + len(END_MARKER)
    assert render_au_study(load_au_study(AU_FILE)) == text[begin:end]
