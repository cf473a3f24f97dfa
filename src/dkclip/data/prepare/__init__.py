"""Converters from the official DFEW / FERV39K / MAFW split files to our list format, with checks.

Output: one ``<path> <num_frames> <label>`` line per clip (:mod:`dkclip.data.annotations`), labels 0-based in the
class orders of docs/method.md §4.3, ``num_frames`` counted on disk. Paths are written relative to the media root
(train with ``data.root=<media root>``), or absolute with ``absolute=True``.

Split files (the layouts of the official releases; ``labels_dir``): one module per release describes its layout
and registers its converter in :data:`PREPARERS` (:mod:`.dfew`, :mod:`.ferv39k`, :mod:`.mafw`); what they share is
in :mod:`.convert` (the conversion and its checks), :mod:`.locate` (finding the folders) and :mod:`.rows`.

A ``labels_dir`` that is a parent of the expected folder (``DFEW/``, ``FERV39K/4_setups``, ``MAFW/Train & Test
Set``) is searched up to three levels down, and the report says which folder was used. Without ``folds``, the
folds whose two split files exist are converted.

Media (``media_root``): each clip is a frame folder ``<clip>/`` (jpg/png) or one video ``<clip>.<ext>`` (mp4, avi,
mov, mkv, webm), named by the clip's id (DFEW: the zero-padded number, ``id_width``, or the bare number; FERV39K:
``<Scene>/<Class>/<clip>``; MAFW: the 5-digit id). So DFEW's ``Clip/clip_224x224/`` (frame folders),
``Clip/clip_224x224_avi/`` (one ``.avi`` per id) and ``Clip/clip_224x224_16f/``, FERV39K's ``2_ClipsforFaceCrop/``
and MAFW's ``data/faces/``, ``data/frames/`` or ``data/clips/`` (mp4) all work. When fewer than half of a sample
of the clips are found under ``media_root``, its subfolders are searched (three levels down at most), e.g. the
double-nested ``clip_224x224/clip_224x224/`` of public DFEW copies, ``DFEW/Clip/`` or ``DFEW/``; the folder holding the
most clips is used (ties: the release's usual choice, each layout's ``preferred_media``) and the report says so.

Checks (a :class:`PrepareReport`): nothing is written unless every split passes these —

- a split file with no clip, a split of which no clip is found, or one with more than half of its clips missing
  or empty on disk (:data:`MOST_MISSING`) is an error naming the split, the media root and an example, with a
  hint;
- with ``strict=True``, any finding below is an error too.

Findings (reported; the lists are written): clips whose media is missing, empty or unreadable (left out, with the
split file's line), duplicate rows (the first kept), clips in both the train and test split of a fold, split sizes
and, where known, per-class counts that differ from the published numbers (docs/method.md §4.1–4.3). A clip listed
twice with different labels is always an error.
"""

from __future__ import annotations

from .check import ListCheck, check_list
from .convert import MOST_MISSING, Layout
from .dfew import DFEW, prepare_dfew, read_dfew_split
from .ferv39k import FERV39K, prepare_ferv39k, read_ferv39k_split
from .locate import locate_labels, locate_media_root
from .mafw import MAFW, MAFW11, MAFW_OFFICIAL_ORDER, prepare_mafw, read_mafw_split
from .registry import PREPARERS, list_layouts, register_preparer
from .report import PrepareReport, SplitResult
from .rows import BASIC7

# The published numbers and preferred media folders of every layout in one place, as before the layouts had
# modules of their own.
_LAYOUTS = (DFEW, FERV39K, MAFW)
EXPECTED_SIZES: dict[str, int] = {name: n for layout in _LAYOUTS for name, n in layout.sizes.items()}
EXPECTED_CLASS_COUNTS: dict[str, tuple[int, ...]] = {
    name: counts for layout in _LAYOUTS for name, counts in layout.class_counts.items()}
PREFERRED_MEDIA: dict[str, tuple[str, ...]] = {layout.name: layout.preferred_media for layout in _LAYOUTS}

__all__ = [
    "BASIC7",
    "DFEW",
    "EXPECTED_CLASS_COUNTS",
    "EXPECTED_SIZES",
    "FERV39K",
    "MAFW",
    "MAFW11",
    "MAFW_OFFICIAL_ORDER",
    "MOST_MISSING",
    "PREFERRED_MEDIA",
    "PREPARERS",
    "Layout",
    "ListCheck",
    "PrepareReport",
    "SplitResult",
    "check_list",
    "list_layouts",
    "locate_labels",
    "locate_media_root",
    "prepare_dfew",
    "prepare_ferv39k",
    "prepare_mafw",
    "read_dfew_split",
    "read_ferv39k_split",
    "read_mafw_split",
    "register_preparer",
]
