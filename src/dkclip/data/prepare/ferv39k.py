"""**FERV39K** — ``4_setups/All_scenes/`` with ``train_All.csv`` and ``test_All.csv``: one clip per line,
``<Scene>/<Class>/<clip> <Class>`` (space or comma separated; a header line is skipped). The label comes from the
class name (Happy, Sad, Neutral, Angry, Surprise, Disgust, Fear) and must agree with the path's class folder.
Writes ``FERV39K_{train,test}.txt``.

Media: ``2_ClipsforFaceCrop/``, one frame folder or video per ``<Scene>/<Class>/<clip>``.
"""

from __future__ import annotations

import os

from ..errors import AnnotationError
from .convert import Job, Layout, convert
from .locate import locate_labels
from .registry import register_preparer
from .report import PrepareReport
from .rows import BASIC7, SplitRow, read_lines, split_two

FERV39K = Layout("ferv39k", len(BASIC7), preferred_media=("2_ClipsforFaceCrop",),
                 sizes={"FERV39K_train": 31088, "FERV39K_test": 7847})


def read_ferv39k_split(csv_path: str) -> list[SplitRow]:
    by_name = {n.lower(): i for i, n in enumerate(BASIC7)}
    rows = []
    for line_no, line in read_lines(csv_path):
        fields = split_two(line)
        clip = fields[0].replace("\\", "/").strip("/")
        parts = clip.split("/")
        if len(parts) < 3:
            if line_no == 1:
                continue  # header
            raise AnnotationError.at(csv_path, line_no, line, "expected '<Scene>/<Class>/<clip> <Class>'")
        folder_class = parts[-2].lower()
        if folder_class not in by_name:
            raise AnnotationError.at(csv_path, line_no, line, f"unknown class folder {parts[-2]!r}")
        if len(fields) == 2 and not fields[1].isdigit() and fields[1].lower() != folder_class:
            raise AnnotationError.at(csv_path, line_no, line,
                                     f"label {fields[1]!r} disagrees with the class folder {parts[-2]!r}")
        rows.append(SplitRow(clip, by_name[folder_class], csv_path, line_no))
    return rows


@register_preparer("ferv39k")
def prepare_ferv39k(labels_dir: str, frames_root: str, out_dir: str, *, absolute: bool = False,
                    strict: bool = False) -> PrepareReport:
    labels, note = locate_labels(labels_dir, lambda d: os.path.isfile(os.path.join(d, "train_All.csv")),
                                 "train_All.csv and test_All.csv (FERV39K's 4_setups/All_scenes)")
    jobs: list[Job] = [(f"FERV39K_{split}", read_ferv39k_split, os.path.join(labels, f"{split}_All.csv"))
                       for split in ("train", "test")]
    return convert(FERV39K, jobs, labels, frames_root, out_dir, absolute=absolute, strict=strict, note=note,
                   folds=[])
