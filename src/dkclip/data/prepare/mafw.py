"""**MAFW** — ``Train & Test Set/single/no_caption/`` with ``set_{1..5}/{train,test}.txt``: one clip per line,
``<clip>.mp4 <emotion>`` with MAFW's English names. Our order is DFER-CLIP's (docs/method.md §4.3):
happiness, sadness, neutral, anger, surprise, disgust, fear, contempt, anxiety, helplessness,
disappointment. A numeric label is read as 1-based in MAFW's own order (anger, disgust, fear, happiness,
neutral, sadness, surprise, contempt, anxiety, helplessness, disappointment) and remapped. Writes
``MAFW_set_{k}_{train,test}.txt``.

Media: ``data/faces/``, ``data/frames/`` or ``data/clips/`` (mp4), one clip per 5-digit id.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from ..errors import AnnotationError
from .convert import Job, Layout, convert
from .locate import choose_folds, locate_labels
from .registry import register_preparer
from .report import PrepareReport
from .rows import SplitRow, read_lines, split_two

MAFW11: tuple[str, ...] = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear", "contempt",
                           "anxiety", "helplessness", "disappointment")
MAFW_OFFICIAL_ORDER: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "neutral", "sadness", "surprise",
                                        "contempt", "anxiety", "helplessness", "disappointment")

# Published split sizes (docs/method.md §4.2; the train sizes as logged by MAE-DFER's preprocessing).
_TEST_SIZES = (1839, 1837, 1833, 1832, 1831)
_TRAIN_SIZES = (7333, 7335, 7339, 7340, 7341)
MAFW = Layout(
    "mafw", len(MAFW11),
    # DFER-CLIP's MAFW lists point at data/faces.
    preferred_media=("faces", "frames", "clips"),
    sizes={**{f"MAFW_set_{k}_test": n for k, n in zip(range(1, 6), _TEST_SIZES, strict=True)},
           **{f"MAFW_set_{k}_train": n for k, n in zip(range(1, 6), _TRAIN_SIZES, strict=True)}},
    class_counts={"MAFW_set_1_test": (249, 294, 228, 278, 215, 128, 125, 48, 184, 53, 37)},
)


def read_mafw_split(txt_path: str) -> list[SplitRow]:
    ours = {n: i for i, n in enumerate(MAFW11)}
    rows = []
    for line_no, line in read_lines(txt_path):
        fields = split_two(line)
        if len(fields) != 2:
            raise AnnotationError.at(txt_path, line_no, line, "expected '<clip>.mp4 <emotion>'")
        clip, lab = os.path.splitext(fields[0])[0], fields[1].lower()
        if lab.isdigit():
            k = int(lab) - 1
            if not 0 <= k < len(MAFW_OFFICIAL_ORDER):
                raise AnnotationError.at(txt_path, line_no, line, "numeric MAFW label must be 1..11")
            lab = MAFW_OFFICIAL_ORDER[k]
        if lab not in ours:
            raise AnnotationError.at(txt_path, line_no, line, f"unknown MAFW emotion {fields[1]!r}")
        rows.append(SplitRow(clip, ours[lab], txt_path, line_no))
    return rows


@register_preparer("mafw")
def prepare_mafw(labels_dir: str, frames_root: str, out_dir: str, *, folds: Iterable[int] | None = None,
                 absolute: bool = False, strict: bool = False) -> PrepareReport:
    def split_file(d: str, split: str, k: int) -> str:
        return os.path.join(d, f"set_{k}", f"{split}.txt")

    labels, note = locate_labels(
        labels_dir, lambda d: any(os.path.isfile(split_file(d, "train", k)) for k in range(1, 6)),
        "'set_k/train.txt' (MAFW's 'Train & Test Set/single/no_caption')", preferred=("single/no_caption",))
    chosen = choose_folds(folds, lambda k: [split_file(labels, s, k) for s in ("train", "test")], labels)
    jobs: list[Job] = [(f"MAFW_set_{k}_{split}", read_mafw_split, split_file(labels, split, k))
                       for k in chosen for split in ("train", "test")]
    return convert(MAFW, jobs, labels, frames_root, out_dir, absolute=absolute, strict=strict, note=note,
                   folds=chosen)
