"""Clip construction (METHOD.md section 1): window, subsample, normalise, resize, crop."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from staticdyn.data.clips import (
    build_clip,
    normalize_resize_crop,
    permute_clip,
    short_side_size,
    uniform_subsample_indices,
    window_indices,
)
from staticdyn.data.spec import ClipSpec


def test_window_cycles_short_videos() -> None:
    assert window_indices(5, 8).tolist() == [0, 1, 2, 3, 4, 0, 1, 2]
    assert window_indices(100, 4, start=10).tolist() == [10, 11, 12, 13]


def test_uniform_subsample_is_truncated_linspace() -> None:
    # linspace(0, 63, 8) = 0, 9, 18, 27, 36, 45, 54, 63
    assert uniform_subsample_indices(64, 8).tolist() == [0, 9, 18, 27, 36, 45, 54, 63]
    # linspace(0, 63, 32) = 0, 2.03, 4.06, ... truncated
    idx = uniform_subsample_indices(64, 32)
    assert idx[:4].tolist() == [0, 2, 4, 6] and idx[-1] == 63


def test_short_side() -> None:
    assert short_side_size(480, 640, 256) == (256, 341)
    assert short_side_size(640, 480, 256) == (341, 256)


def test_build_clip_single_pathway_values() -> None:
    frames = np.zeros((64, 20, 30, 3), np.uint8)
    frames[..., 0] = 255
    spec = ClipSpec(frames=8, crop=10, short_side=10)
    (x,) = build_clip(frames, spec)
    assert x.shape == (3, 8, 10, 10)
    assert torch.allclose(x[0], torch.full_like(x[0], (1 - 0.45) / 0.225))
    assert torch.allclose(x[1], torch.full_like(x[1], -0.45 / 0.225))


def test_build_clip_two_pathways_slow_from_fast() -> None:
    t = np.arange(64, dtype=np.uint8)
    frames = np.broadcast_to(t[:, None, None, None], (64, 8, 8, 3)).copy()
    spec = ClipSpec(frames=8, alpha=4, crop=8, short_side=8, mean=(0, 0, 0), std=(1, 1, 1))
    slow, fast = build_clip(frames, spec)
    assert fast.shape[1] == 32 and slow.shape[1] == 8
    fast_t = (fast[0, :, 0, 0] * 255).round().long()
    slow_t = (slow[0, :, 0, 0] * 255).round().long()
    assert fast_t.tolist() == uniform_subsample_indices(64, 32).tolist()
    assert slow_t.tolist() == fast_t[uniform_subsample_indices(32, 8)].tolist()


def test_permute_clip_permutes_each_pathway() -> None:
    slow = torch.arange(4.0).view(1, 4, 1, 1)
    fast = torch.arange(8.0).view(1, 8, 1, 1)
    ps, pf = np.array([3, 2, 1, 0]), np.array([1, 0, 3, 2, 5, 4, 7, 6])
    out = permute_clip([slow, fast], [ps, pf])
    assert out[0].flatten().tolist() == [3, 2, 1, 0]
    assert out[1].flatten().tolist() == [1, 0, 3, 2, 5, 4, 7, 6]


def test_crop_larger_than_frame_fails() -> None:
    with pytest.raises(ValueError, match="crop"):
        build_clip(np.zeros((4, 8, 8, 3), np.uint8), ClipSpec(frames=2, crop=16, short_side=8))


def _whole_clip_transform(frames: np.ndarray, spec: ClipSpec) -> torch.Tensor:
    """``normalize_resize_crop`` as it was (the whole clip at once): the reference."""
    x = torch.as_tensor(np.ascontiguousarray(frames)).permute(3, 0, 1, 2).float() / 255.0
    mean = torch.tensor(spec.mean, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype).view(3, 1, 1, 1)
    x = (x - mean) / std
    _, _, h, w = x.shape
    nh, nw = short_side_size(h, w, spec.short_side)
    if (nh, nw) != (h, w):
        x = torch.nn.functional.interpolate(x, size=(nh, nw), mode="bilinear",
                                            align_corners=False)
    top, left = (nh - spec.crop) // 2, (nw - spec.crop) // 2
    return x[:, :, top : top + spec.crop, left : left + spec.crop].contiguous()


# (frames, height, width, short side, crop): resized small (torch's other bilinear kernel),
# resized large (one frame at a time), portrait, not resized at all, T = 3 and T = 1
TRANSFORM_CASES = [(8, 37, 53, 16, 12), (8, 72, 100, 70, 64), (32, 30, 90, 56, 48),
                   (16, 99, 61, 80, 72), (4, 24, 40, 24, 20), (3, 60, 84, 66, 60),
                   (1, 70, 70, 68, 64)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("case", TRANSFORM_CASES, ids=[str(c) for c in TRANSFORM_CASES])
def test_frame_by_frame_transform_is_bit_identical(case: tuple[int, ...], threads: int) -> None:
    """The frame-by-frame transform gives the whole-clip values bit for bit, on every bilinear
    kernel torch picks (small outputs, one thread with T = 3, the generic one)."""
    t, h, w, short, crop = case
    frames = np.random.default_rng(sum(case)).integers(0, 256, (t, h, w, 3), dtype=np.uint8)
    spec = ClipSpec(frames=t, crop=crop, short_side=short)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        got = normalize_resize_crop(frames, spec)
        want = _whole_clip_transform(frames, spec)
    finally:
        torch.set_num_threads(before)
    assert got.shape == want.shape == (3, t, crop, crop) and got.is_contiguous()
    assert torch.equal(got, want)


def test_large_frames_are_resized_one_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only one full-size float frame is alive: every resize gets a single frame."""
    seen: list[tuple[int, ...]] = []
    interpolate = torch.nn.functional.interpolate

    def spy(x: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        seen.append(tuple(x.shape))
        return interpolate(x, *args, **kwargs)

    monkeypatch.setattr("staticdyn.data.clips.F.interpolate", spy)
    frames = np.random.default_rng(0).integers(0, 256, (8, 90, 160, 3), dtype=np.uint8)
    out = normalize_resize_crop(frames, ClipSpec(frames=8, crop=64, short_side=72))
    assert out.shape == (3, 8, 64, 64)
    assert seen == [(3, 1, 90, 160)] * 8
