"""The CLIP weights shipped for dkclip-tiny: they load, and zero-shot they beat chance with the AU prompts on
faces of identities never seen in pretraining."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import dkclip
from dkclip.constants import IMAGENET_MEAN, IMAGENET_STD
from dkclip.pretrained import WEIGHTS_DIR, get_pretrained_cfg, verified_path
from dkclip.synth import ClipSpec, render_clip


def _apex_clips(per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean clips of held-out identities (a small dataset seed; pretraining draws from seeds >= 2**40),
    4 frames centred on the apex, normalised as the model expects."""
    videos, labels = [], []
    for k in range(7):
        for i in range(per_class):
            idx = k * per_class + i
            frames, truth = render_clip(ClipSpec(clip_id=str(idx), label=k, identity=idx, num_frames=16, index=idx,
                                                 seed=seed, noisy=False), noise=False)
            apex = int(np.clip(np.argmax(truth.envelope), 2, 14))
            videos.append(frames[apex - 2: apex + 2])
            labels.append(k)
    x = torch.from_numpy(np.stack(videos)).permute(0, 1, 4, 2, 3).float() / 255.0
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 1, 3, 1, 1)
    return (x - mean) / std, torch.tensor(labels)


def test_shipped_weights_are_in_the_package_and_small() -> None:
    path = verified_path(get_pretrained_cfg("dkclip-tiny", "synthclip"))
    assert path.parent == WEIGHTS_DIR and path.stat().st_size <= 20 * 1024 * 1024
    assert (WEIGHTS_DIR / "README.md").is_file()  # the model card


@pytest.mark.parametrize("prompts", ["dfew"])
def test_shipped_weights_zero_shot_above_chance(prompts: str) -> None:
    model = dkclip.create_model("dkclip-tiny", pretrained="synthclip", prompts=prompts, temporal="avgpool",
                                use_cmam=False, use_nrm=False, logit_scale=None).eval()
    video, labels = _apex_clips(per_class=8, seed=123)
    with torch.no_grad():
        pred = model(video).logits.argmax(-1)
    uar = float(np.mean([(pred[labels == k] == k).float().mean() for k in range(7)]))
    assert uar >= 0.3, f"zero-shot UAR {uar:.3f} (chance 0.143)"
    random_init = dkclip.create_model("dkclip-tiny", prompts=prompts, temporal="avgpool", use_cmam=False,
                                      use_nrm=False).eval()
    assert not torch.equal(random_init.visual.conv1.weight, model.visual.conv1.weight)
