"""**DFEW** — ``EmoLabel_DataSplit/``, holding ``train(single-labeled)/set_{1..5}.csv`` and
``test(single-labeled)/set_{1..5}.csv``. Each CSV has a header ``video_name,label``; ``video_name`` is the
clip number (``1`` or ``00001``), ``label`` is 1-based (1 Happy, 2 Sad, 3 Neutral, 4 Angry, 5 Surprise,
6 Disgust, 7 Fear), so ours is ``label - 1``. Writes ``DFEW_set_{k}_{train,test}.txt``.

Media: one frame folder or video per clip, named by the zero-padded number (``id_width``) or the bare number:
``Clip/clip_224x224/`` (frame folders), ``Clip/clip_224x224_avi/`` (one ``.avi`` per id), ``Clip/clip_224x224_16f/``.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from functools import partial

from ..errors import AnnotationError
from .convert import Job, Layout, convert
from .locate import choose_folds, locate_labels
from .registry import register_preparer
from .report import PrepareReport
from .rows import BASIC7, SplitRow

_TEST_SIZES = (2341, 2341, 2340, 2339, 2336)  # published test folds (docs/method.md §4.1); train = 11697 - test
DFEW = Layout(
    "dfew", len(BASIC7),
    # The paper's authors trained on DFEW's frame folders.
    preferred_media=("clip_224x224", "clip_224x224_avi", "clip_224x224_16f", "original"),
    sizes={**{f"DFEW_set_{k}_test": n for k, n in zip(range(1, 6), _TEST_SIZES, strict=True)},
           **{f"DFEW_set_{k}_train": 11697 - n for k, n in zip(range(1, 6), _TEST_SIZES, strict=True)}},
    class_counts={"DFEW_set_1_test": (489, 379, 534, 435, 294, 29, 181)},
)


def read_dfew_split(csv_path: str, id_width: int = 5) -> list[SplitRow]:
    rows = []
    try:
        with open(csv_path, encoding="utf-8-sig", newline="") as fh:
            records = list(csv.reader(fh))
    except UnicodeDecodeError as exc:
        raise AnnotationError(f"{csv_path}: not UTF-8 text ({exc.reason} at byte {exc.start})",
                              source_file=csv_path) from None
    for line_no, fields in enumerate(records, start=1):
        if not fields or not "".join(fields).strip():
            continue
        text = ",".join(fields)
        if len(fields) < 2:
            raise AnnotationError.at(csv_path, line_no, text, "expected 'video_name,label'")
        vid, lab = fields[0].strip(), fields[1].strip()
        if line_no == 1 and not lab.isdigit():
            continue  # header
        if not vid.isdigit() or not lab.isdigit():
            raise AnnotationError.at(csv_path, line_no, text, "video_name and label must be integers")
        label = int(lab) - 1
        if not 0 <= label < 7:
            raise AnnotationError.at(csv_path, line_no, text, "DFEW label must be 1..7")
        padded, bare = vid.zfill(id_width), str(int(vid))
        rows.append(SplitRow(padded, label, csv_path, line_no, tuple(a for a in {bare, vid} if a != padded)))
    return rows


@register_preparer("dfew")
def prepare_dfew(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] | None = None,
                 id_width: int = 5, absolute: bool = False, strict: bool = False) -> PrepareReport:
    def split_file(d: str, split: str, k: int) -> str:
        return os.path.join(d, f"{split}(single-labeled)", f"set_{k}.csv")

    labels, note = locate_labels(labels_dir, lambda d: os.path.isdir(os.path.join(d, "train(single-labeled)")),
                                 "'train(single-labeled)/set_k.csv' (DFEW's EmoLabel_DataSplit)")
    chosen = choose_folds(folds, lambda k: [split_file(labels, s, k) for s in ("train", "test")], labels)
    jobs: list[Job] = [(f"DFEW_set_{k}_{split}", partial(read_dfew_split, id_width=id_width),
                        split_file(labels, split, k)) for k in chosen for split in ("train", "test")]
    return convert(DFEW, jobs, labels, frames_root, out_dir, absolute=absolute, strict=strict, note=note,
                   folds=chosen)
