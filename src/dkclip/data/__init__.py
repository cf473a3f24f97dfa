"""The data pipeline: list files, media readers, frame sampling, clip transforms, mixing, and the loader.

Building a training and a test loader from list files::

    from dkclip.data import build_dataset, build_loader, MixupFMix

    train_ds = build_dataset("DFEW_set_1_train.txt", "train", root="/data/DFEW", num_classes=7,
                             rewrites=["/data/EECS-IoannisLab/datasets/DFEW/DFEW_Frame_Face=/data/DFEW/frames"])
    test_ds = build_dataset("DFEW_set_1_test.txt", "test", root="/data/DFEW", num_classes=7)
    train_loader = build_loader(train_ds, batch_size=8, num_workers=8, seed=0)   # shuffled, drop_last
    test_loader = build_loader(test_ds, batch_size=16, num_workers=8)            # in order, all clips
    mix = MixupFMix(num_classes=7)
    for batch in train_loader:
        video, target = mix(batch["video"].cuda(), batch["label"].cuda())       # (B, T, 3, S, S), (B, K)
    print(train_loader.report.summary())

See ``docs/data.md`` for formats, options and the bad-input policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports

if TYPE_CHECKING:
    from .annotations import PathRewrite, VideoRecord, detect_format, load_annotations
    from .dataset import (
        ClipDataset,
        ClipLoader,
        DataReport,
        SkippedSample,
        build_dataset,
        build_loader,
        collate_clips,
        worker_init_fn,
    )
    from .errors import AnnotationError, DataError, MediaError, SampleError
    from .media import AutoReader, FrameFolderReader, VideoFileReader, list_frame_files, natural_key
    from .mixing import MixupFMix, fmix_mask, smooth_one_hot
    from .sampling import FrameSampler, eval_indices, train_indices
    from .transforms import EvalTransform, Normalize, TrainTransform, build_transform

# The public names and their modules, imported on first use (PEP 562): the submodules that predict needs
# (decoding, errors, media) then load without the dataset and transforms, i.e. without torchvision, which took
# 1-2 s of every `dkclip predict` start-up.
_LAZY: dict[str, str] = {
    **dict.fromkeys(("PathRewrite", "VideoRecord", "detect_format", "load_annotations"), ".annotations"),
    **dict.fromkeys(("ClipDataset", "ClipLoader", "DataReport", "SkippedSample", "build_dataset", "build_loader",
                     "collate_clips", "worker_init_fn"), ".dataset"),
    **dict.fromkeys(("AnnotationError", "DataError", "MediaError", "SampleError"), ".errors"),
    **dict.fromkeys(("AutoReader", "FrameFolderReader", "VideoFileReader", "list_frame_files", "natural_key"),
                    ".media"),
    **dict.fromkeys(("MixupFMix", "fmix_mask", "smooth_one_hot"), ".mixing"),
    **dict.fromkeys(("FrameSampler", "eval_indices", "train_indices"), ".sampling"),
    **dict.fromkeys(("EvalTransform", "Normalize", "TrainTransform", "build_transform"), ".transforms"),
}


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())

__all__ = [
    "AnnotationError",
    "AutoReader",
    "ClipDataset",
    "ClipLoader",
    "DataError",
    "DataReport",
    "EvalTransform",
    "FrameFolderReader",
    "FrameSampler",
    "MediaError",
    "MixupFMix",
    "Normalize",
    "PathRewrite",
    "SampleError",
    "SkippedSample",
    "TrainTransform",
    "VideoFileReader",
    "VideoRecord",
    "build_dataset",
    "build_loader",
    "build_transform",
    "collate_clips",
    "detect_format",
    "eval_indices",
    "fmix_mask",
    "list_frame_files",
    "load_annotations",
    "natural_key",
    "smooth_one_hot",
    "train_indices",
    "worker_init_fn",
]
