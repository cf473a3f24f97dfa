"""``dkclip.synth``: a synthetic, license-free FACS face-video dataset for dynamic expression recognition.

Faces are drawn procedurally and driven by action units (see :mod:`.aus`), so every frame comes with exact
ground truth: per-frame AU intensities, noise flags, identity, pose and appearance. Use it in memory::

    from dkclip.synth import ClipSpec, render_clip
    frames, truth = render_clip(ClipSpec(clip_id="a", label=0, identity=3, num_frames=32))
    truth.aus        # (T, 17) AU intensities, columns in AU_IDS order
    truth.noise      # per-frame noise kind or None
    truth.caption(t) # "a face with lip corner puller, ..." for AU-caption pretraining

or write a DFEW-style dataset with :func:`generate_dataset` / ``dkclip synth --out DIR``.
"""

from .aus import (
    AU_IDS,
    AU_NAMES,
    AUProfile,
    active_aus,
    class_au_set,
    class_names,
    class_profiles,
    describe_aus,
    sample_apex,
)
from .dataset import GENERATOR_VERSION, DatasetPlan, build_plan, generate_dataset, write_clip, write_mp4
from .identity import Appearance, sample_appearance
from .render import ClipSpec, ClipTruth, appearance_of, is_target_expression, render_clip, render_frame
from .strip import make_strip
from .synth_config import NOISE_KINDS, PRESETS, SynthConfig, preset_config

__all__ = [
    "AU_IDS",
    "AU_NAMES",
    "GENERATOR_VERSION",
    "NOISE_KINDS",
    "PRESETS",
    "AUProfile",
    "Appearance",
    "ClipSpec",
    "ClipTruth",
    "DatasetPlan",
    "SynthConfig",
    "active_aus",
    "appearance_of",
    "build_plan",
    "class_au_set",
    "class_names",
    "class_profiles",
    "describe_aus",
    "generate_dataset",
    "is_target_expression",
    "make_strip",
    "preset_config",
    "render_clip",
    "render_frame",
    "sample_apex",
    "sample_appearance",
    "write_clip",
    "write_mp4",
]
