"""Text prompts: the AU-enriched prompt sets of DK-CLIP and the variants of the paper's Table 6.

A prompt set is an ordered list of strings, one per class, in the class order of the dataset's label files
(docs/method.md §4.3). Named sets:

- ``dfew`` / ``ferv39k`` (7 classes) and ``mafw`` (11): AU-enriched prompts joined with "or", verbatim from the
  authors' ``labels2prompt`` CSVs (Table 6 e, the default).
- ``<set>_and``: the same with every "or" replaced by "and" (Table 6 d).
- ``<set>_classnames``: class names only (Table 6 a, the Table 4 baseline).
- ``<set>_paper``: the paper's wording ("Happiness with cheek raiser, lip corner puller or lip part."). The paper
  gives only the happiness example; the others follow the same rule from the AUs of its Table 1.

A prompt spec may also be a path to a CSV with ``id,name`` columns (as the authors ship) or a list of strings.
Learnable CoOp context (Table 6 b) is a model option (``coop_context_tokens``), not a prompt set.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

DFEW_CLASSES: tuple[str, ...] = ("happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear")
MAFW_CLASSES: tuple[str, ...] = (*DFEW_CLASSES, "contempt", "anxiety", "helplessness", "disappointment")

# Verbatim from the authors' dfew_7_AUE_labels.csv / ferv39k_7_AUE_labels.csv / mafw_11_AUE_labels.csv.
_AU_OR_PROMPTS: tuple[str, ...] = (
    "happiness with cheek raiser and lip corner puller or part",
    "sadness with inner brow raiser or brow lowerer and lip corner depressor and chin raiser",
    "neutral",
    "anger with brow lowerer and lid tightener and chin raiser and lip pressor",
    "surprise with brow raiser and upper lid raiser and lip part and jaw drop",
    "disgust with nose wrinkler and upper lip raiser and chin raiser",
    "fear with brow raiser or brow lowerer and upper lid raiser and lip stretcher or part",
)
_MAFW_EXTRA: tuple[str, ...] = ("contempt", "anxiety", "helplessness", "disappointment")

# FACS names of the action units DK-CLIP's prompts and the synthetic generator use (the one source of them).
AU_NAMES: dict[int, str] = {
    1: "inner brow raiser",
    2: "outer brow raiser",
    4: "brow lowerer",
    5: "upper lid raiser",
    6: "cheek raiser",
    7: "lid tightener",
    9: "nose wrinkler",
    10: "upper lip raiser",
    12: "lip corner puller",
    14: "dimpler",
    15: "lip corner depressor",
    17: "chin raiser",
    20: "lip stretcher",
    23: "lip tightener",
    24: "lip pressor",
    25: "lips part",
    26: "jaw drop",
}
# The paper writes AU25 as "lip part" ("Happiness with cheek raiser, lip corner puller or lip part.").
_PAPER_AU_NAMES: dict[int, str] = {**AU_NAMES, 25: "lip part"}

# Paper Table 1: primary AUs of each basic expression (neutral has none).
TABLE1_AUS: dict[str, tuple[int, ...]] = {
    "happiness": (6, 12, 25),
    "sadness": (1, 4, 15, 17),
    "neutral": (),
    "anger": (4, 7, 17, 24),
    "surprise": (1, 2, 5, 25, 26),
    "disgust": (9, 10, 17),
    "fear": (1, 2, 4, 5, 20, 25),
}


def _paper_wording(name: str) -> str:
    """"Happiness with cheek raiser, lip corner puller or lip part." for any class of Table 1."""
    aus = [_PAPER_AU_NAMES[a] for a in TABLE1_AUS.get(name, ())]
    title = name.capitalize()
    if not aus:
        return f"{title}."
    if len(aus) == 1:
        return f"{title} with {aus[0]}."
    return f"{title} with {', '.join(aus[:-1])} or {aus[-1]}."


def _and_variant(prompt: str) -> str:
    return prompt.replace(" or ", " and ")


def _build_named_sets() -> dict[str, tuple[str, ...]]:
    au7 = _AU_OR_PROMPTS
    au11 = au7 + _MAFW_EXTRA
    sets: dict[str, tuple[str, ...]] = {}
    for base, prompts, classes in (("dfew", au7, DFEW_CLASSES), ("ferv39k", au7, DFEW_CLASSES),
                                   ("mafw", au11, MAFW_CLASSES)):
        sets[base] = prompts
        sets[f"{base}_and"] = tuple(_and_variant(p) for p in prompts)
        sets[f"{base}_classnames"] = classes
        sets[f"{base}_paper"] = tuple(_paper_wording(c) for c in classes)
    return sets


PROMPT_SETS: dict[str, tuple[str, ...]] = _build_named_sets()
_CLASSES_OF: dict[str, tuple[str, ...]] = {"dfew": DFEW_CLASSES, "ferv39k": DFEW_CLASSES, "mafw": MAFW_CLASSES}


def list_prompt_sets() -> list[str]:
    return sorted(PROMPT_SETS)


def class_names_for(prompt_set: str) -> tuple[str, ...] | None:
    """Class names of a named prompt set, or None for user prompts."""
    return _CLASSES_OF.get(prompt_set.split("_", 1)[0]) if prompt_set in PROMPT_SETS else None


def read_prompt_csv(path: str | Path) -> list[str]:
    """Read an ``id,name`` CSV (header optional). Ids must be 0..K-1, each once; order follows the ids."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"prompt file not found: {path}")
    by_id: dict[int, str] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        for line_no, row in enumerate(csv.reader(fh), start=1):
            if not row or all(not cell.strip() for cell in row):
                continue
            if line_no == 1 and row[0].strip().lower() == "id":
                continue  # header
            if len(row) < 2:
                raise ValueError(f"{path}:{line_no}: expected 'id,name', got {','.join(row)!r}")
            try:
                class_id = int(row[0])
            except ValueError:
                raise ValueError(f"{path}:{line_no}: class id {row[0]!r} is not an integer") from None
            name = ",".join(row[1:]).strip()
            if not name:
                raise ValueError(f"{path}:{line_no}: empty prompt for class {class_id}")
            if class_id in by_id:
                raise ValueError(f"{path}:{line_no}: class id {class_id} appears twice")
            by_id[class_id] = name
    if not by_id:
        raise ValueError(f"{path}: no prompts found")
    expected = list(range(len(by_id)))
    if sorted(by_id) != expected:
        raise ValueError(f"{path}: class ids must be 0..{len(by_id) - 1}, got {sorted(by_id)}")
    return [by_id[i] for i in expected]


def resolve_prompts(spec: str | Sequence[str] | Path) -> list[str]:
    """Turn a prompt spec (named set, CSV path, or list of strings) into the list of prompt strings."""
    if isinstance(spec, Path) or (isinstance(spec, str) and spec not in PROMPT_SETS and spec.endswith(".csv")):
        return read_prompt_csv(spec)
    if isinstance(spec, str):
        if spec not in PROMPT_SETS:
            raise ValueError(
                f"unknown prompt set {spec!r}; use one of {list_prompt_sets()}, a path to an id,name CSV, "
                "or a list of strings"
            )
        return list(PROMPT_SETS[spec])
    prompts = list(spec)
    if not prompts or not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("a prompt list must be a non-empty list of non-empty strings")
    return prompts
