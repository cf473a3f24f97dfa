"""Clip transforms (docs/method.md §3.5): one spatial draw per clip, crop geometry, sizes that scale, normalisation."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as F

from dkclip.constants import CLIP_MEAN, CLIP_STD, IMAGENET_MEAN, IMAGENET_STD
from dkclip.data.transforms import (
    EvalTransform,
    Normalize,
    TrainTransform,
    _jitter_op,
    adjust_hue_batched,
    apply_jitter,
    build_transform,
    center_crop_box,
    multiscale_crop_box,
    resize_short_side_for,
    sample_jitter,
    three_crop_boxes,
)


def asymmetric_clip(t: int = 4, h: int = 60, w: int = 80) -> torch.Tensor:
    gen = torch.Generator().manual_seed(3)
    frame = torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen)
    return frame.expand(t, 3, h, w).clone()


def test_same_spatial_parameters_for_every_frame() -> None:
    clip = asymmetric_clip()
    tf = TrainTransform(size=32, jitter_p=0.0)
    gen = torch.Generator().manual_seed(0)
    outputs = [tf(clip, gen) for _ in range(30)]
    for out in outputs:
        assert out.shape == (4, 3, 32, 32) and out.dtype == torch.float32
        assert all(torch.equal(out[0], out[k]) for k in range(1, 4))
    assert len({o[0].sum().item() for o in outputs}) > 5  # but different across clips


def test_per_frame_jitter_keeps_geometry() -> None:
    clip = asymmetric_clip()
    tf = TrainTransform(size=32, jitter_p=1.0, gray_p=1.0, jitter_per_frame=True)
    out = tf(clip, torch.Generator().manual_seed(0))
    # grey output: each frame is a colour-jittered version of the same crop; the spatial ranking of pixel
    # brightness is shared, so frames correlate strongly even though their values differ.
    flat = out[:, 0].reshape(4, -1)
    assert not torch.allclose(flat[0], flat[1])
    corr = torch.corrcoef(flat)
    assert corr.min() > 0.8
    shared = TrainTransform(size=32, jitter_p=1.0, jitter_per_frame=False)(clip, torch.Generator().manual_seed(0))
    assert torch.allclose(shared[0], shared[3])


def test_multiscale_crop_geometry() -> None:
    # 224x224 source at target 224: crops chosen on the 256 image are {256,224,192,168}, i.e. in source pixels
    # {224,196,168,147}; positions are the 4 corners and the centre; width/height levels differ by <= 1.
    sizes = [224, 196, 168, 147]
    crops256 = [256, 224, 192, 168]
    gen = torch.Generator().manual_seed(0)
    boxes = {multiscale_crop_box(224, 224, 256, gen) for _ in range(400)}
    for top, left, h, w in boxes:
        assert h in sizes and w in sizes and abs(sizes.index(h) - sizes.index(w)) <= 1
        step_h, step_w = ((256 - crops256[sizes.index(v)]) // 4 for v in (h, w))
        positions = {(round(y * 224 / 256), round(x * 224 / 256))
                     for y, x in ((0, 0), (0, 4 * step_w), (4 * step_h, 0), (4 * step_h, 4 * step_w),
                                  (2 * step_h, 2 * step_w))}
        assert (top, left) in positions
        assert top + h <= 224 and left + w <= 224
    assert len({(h, w) for _, _, h, w in boxes}) == 10  # all allowed (w, h) level pairs occur


def test_centre_and_three_crops() -> None:
    # Resize 224 -> 256, centre crop 224 at offset 16: in source pixels offset 14, size 196.
    assert center_crop_box(224, 224, 256, 224) == (14, 14, 196, 196)
    assert center_crop_box(112, 112, 128, 112) == (7, 7, 98, 98)
    # 100x200 (h x w), size 50: resized 50x100, crops at x = 0, 25, 50 -> source 0, 50, 100, size 100.
    assert three_crop_boxes(100, 200, 50) == [(0, 0, 100, 100), (0, 50, 100, 100), (0, 100, 100, 100)]


def test_sizes_scale_with_target() -> None:
    assert resize_short_side_for(224) == 256 and resize_short_side_for(112) == 128
    clip = asymmetric_clip(2, 90, 120)
    assert TrainTransform(size=112)(clip, torch.Generator()).shape == (2, 3, 112, 112)
    assert EvalTransform(size=112)(clip).shape == (2, 3, 112, 112)
    assert EvalTransform(size=56, num_crops=3)(clip).shape == (3, 2, 3, 56, 56)


def test_eval_is_deterministic_and_matches_two_step_pipeline() -> None:
    clip = asymmetric_clip(2, 224, 224)
    a, b = EvalTransform(224)(clip), EvalTransform(224)(clip)
    assert torch.equal(a, b)
    two_step = F.center_crop(F.resize(clip, [256], antialias=True), [224])
    norm = Normalize()(two_step)
    assert (a - norm).abs().mean() < 0.06  # one resampling instead of two: interpolation noise only


def test_normalisation_statistics() -> None:
    for name, mean, std in (("imagenet", IMAGENET_MEAN, IMAGENET_STD), ("clip", CLIP_MEAN, CLIP_STD)):
        norm = Normalize.named(name)
        grey = torch.full((1, 3, 2, 2), 255, dtype=torch.uint8)
        out = norm(grey)
        expect = torch.tensor([(1 - m) / s for m, s in zip(mean, std, strict=True)]).view(1, 3, 1, 1)
        assert torch.allclose(out, expect.expand_as(out), atol=1e-5)
    tf = build_transform("test", 112, normalize="clip")
    assert tf.normalize.mean == CLIP_MEAN


def test_jitter_ops_match_torchvision() -> None:
    frames = torch.randint(0, 256, (3, 3, 24, 24), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    refs = (F.adjust_brightness, F.adjust_contrast, F.adjust_saturation, F.adjust_hue)
    for op, factor in ((0, 1.3), (1, 0.7), (2, 1.2), (3, 0.08), (3, -0.1)):
        ours = _jitter_op(op, frames.float(), torch.full((3,), factor)).round()
        assert (ours - refs[op](frames, factor).float()).abs().max() <= 1
    shifts = torch.tensor([0.05, -0.1, 0.0])
    batched = adjust_hue_batched(frames.float(), shifts).round()
    for i in range(3):
        assert (batched[i] - F.adjust_hue(frames[i], float(shifts[i])).float()).abs().max() <= 1


def test_jitter_draws_per_frame_with_own_order() -> None:
    p = sample_jitter(16, torch.Generator().manual_seed(0), 0.4, 0.4, 0.2, 0.1)
    assert p.brightness.shape == (16,) and len(set(p.brightness.tolist())) == 16
    assert ((p.brightness >= 0.6) & (p.brightness <= 1.4)).all() and (p.hue.abs() <= 0.1).all()
    assert len({tuple(o) for o in p.order.tolist()}) > 1
    frames = torch.randint(0, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = apply_jitter(frames, p)
    for i in (0, 7):  # each frame gets its own factors in its own order
        ref = frames[i].float()
        for op in p.order[i].tolist():
            factor = (p.brightness, p.contrast, p.saturation, p.hue)[op][i : i + 1]
            ref = _jitter_op(op, ref.unsqueeze(0), factor)[0]
        assert torch.allclose(out[i], ref, atol=1e-3)
