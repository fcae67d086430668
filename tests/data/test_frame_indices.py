"""A clip's frame indices come before any decoding, and short videos are what they claim.

``clip_indices`` needs only the frame count; these tests pin it to the transform the clip used
before reading was split (window, cycling, UniformTemporalSubsample, PackPathway), and cover
``probe.short_videos`` (cycle | stretch | skip) and the 1-frame refusal in ``load_group``.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from staticdyn.data.clips import (
    build_clip,
    clip_indices,
    is_cycled,
    normalize_resize_crop,
    pathway_indices,
    transform_clip,
    uniform_subsample_indices,
)
from staticdyn.data.pairs import DYNAMIC, STATIC, Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import TASK, load_group
from staticdyn.errors import UnknownChoiceError, VideoReadError

SPEC8 = ClipSpec(frames=8, crop=8, short_side=8)
SPEC4 = ClipSpec(frames=4, crop=8, short_side=8)
SLOWFAST = ClipSpec(frames=8, alpha=4, crop=8, short_side=8)


def reference_clip(frames: np.ndarray, spec: ClipSpec, start: int) -> list[torch.Tensor]:
    """The clip transform as it was written before frame indices were split out of it."""
    window = (start + np.arange(spec.n_sample_frames)) % frames.shape[0]
    t_max = spec.pathway_frames[-1]
    picked = frames[window[torch.linspace(0, len(window) - 1, t_max).long().numpy()]]
    x = normalize_resize_crop(picked, spec)
    if spec.alpha is None:
        return [x]
    slow = torch.linspace(0, x.shape[1] - 1, x.shape[1] // spec.alpha).long()
    return [x.index_select(1, slow), x]


def coded_video(n: int, size: int = 8) -> np.ndarray:
    """Frame t is noise plus a flat value t, so tensors differ whenever a frame does."""
    rng = np.random.default_rng(n)
    frames = rng.integers(0, 200, (n, size, size, 3), dtype=np.uint8)
    return frames + (np.arange(n, dtype=np.uint8) % 50)[:, None, None, None]


@pytest.mark.parametrize("spec", [SPEC8, SPEC4, SLOWFAST], ids=["8", "4", "slowfast"])
@pytest.mark.parametrize(("n", "start"), [(1, 0), (5, 0), (30, 0), (63, 0), (64, 0), (100, 0),
                                          (100, 17), (300, 236)])
def test_indices_then_transform_equal_the_old_clip(spec: ClipSpec, n: int, start: int) -> None:
    frames = coded_video(n)
    want = reference_clip(frames, spec, start)
    order = clip_indices(n, spec, start)
    assert len(order) == spec.pathway_frames[-1] and order.max() < n
    wanted, picks = np.unique(order, return_inverse=True)
    for clip in (build_clip(frames, spec, start), transform_clip(frames[wanted][picks], spec)):
        assert len(clip) == len(want)
        for got, ref in zip(clip, want, strict=True):
            assert torch.equal(got, ref)


def test_a_30_frame_video_is_cycled_out_of_order() -> None:
    """The issue's example: the 'unshuffled' 4-frame clip of a 30-frame video."""
    assert clip_indices(30, SPEC4).tolist() == [0, 21, 12, 3]
    assert is_cycled(30, SPEC4) and not is_cycled(64, SPEC4)
    assert not is_cycled(30, SPEC4, "stretch")


def test_pathway_indices_slow_is_inside_fast() -> None:
    slow, fast = pathway_indices(100, SLOWFAST, start=10)
    assert fast.tolist() == (10 + uniform_subsample_indices(64, 32)).tolist()
    assert slow.tolist() == fast[uniform_subsample_indices(32, 8)].tolist()
    (only,) = pathway_indices(100, SPEC8)
    assert only.tolist() == uniform_subsample_indices(64, 8).tolist()


def test_stretch_subsamples_in_order() -> None:
    assert clip_indices(30, SPEC8, short_videos="stretch").tolist() == \
        uniform_subsample_indices(30, 8).tolist()
    few = clip_indices(5, SPEC8, short_videos="stretch").tolist()
    assert few == sorted(few) and set(few) == set(range(5))  # repeats, but in order
    # a video as long as the window is not touched by the setting
    for mode in ("stretch", "skip"):
        assert clip_indices(64, SPEC8, short_videos=mode).tolist() == \
            clip_indices(64, SPEC8).tolist()


def test_skip_refuses_a_short_video_by_name() -> None:
    with pytest.raises(VideoReadError, match=r"video 'kid' has 30 frames.*64-frame window"):
        clip_indices(30, SPEC8, short_videos="skip", video="kid")


def test_unknown_short_videos_setting() -> None:
    with pytest.raises(UnknownChoiceError, match="probe.short_videos"):
        clip_indices(30, SPEC8, short_videos="loop")


class _Lengths(VideoSource):
    """Videos of given lengths; frame t of every video is the flat value 3 t (+ style)."""

    def __init__(self, lengths: dict[str, int]):
        self.lengths = lengths

    @property
    def videos(self) -> list[str]:
        return list(self.lengths)

    @property
    def num_styles(self) -> int:
        return 2

    def read(self, video: str, style: int) -> np.ndarray:
        t = np.arange(self.lengths[video], dtype=np.uint8) * 3 + 100 * style
        return np.broadcast_to(t[:, None, None, None], (len(t), 8, 8, 3)).copy()


def _time_values(x: torch.Tensor, spec: ClipSpec) -> list[int]:
    """Frame value per time step of a clip tensor built from ``_Lengths``."""
    v = x[0, :, 0, 0] * spec.std[0] + spec.mean[0]
    return (v * 255).round().long().tolist()


def _group(video: str) -> list[Pair]:
    return [Pair(0, 0, DYNAMIC, video, 0, 1, 11), Pair(1, 0, STATIC, video, 0, 0, 12)]


def test_load_group_marks_cycled_clips() -> None:
    src = _Lengths({"short": 30, "long": 80})
    short = load_group(src, 0, _group("short"), SPEC4)
    assert short.skip_reason is None and short.cycled
    assert [v // 3 for v in _time_values(short.clips[0][0], SPEC4)] == [0, 21, 12, 3]
    assert not load_group(src, 1, _group("long"), SPEC4).cycled


def test_load_group_stretch_and_skip() -> None:
    src = _Lengths({"short": 30})
    stretched = load_group(src, 0, _group("short"), SPEC4, short_videos="stretch")
    assert not stretched.cycled
    assert [v // 3 for v in _time_values(stretched.clips[0][0], SPEC4)] == [0, 9, 19, 29]
    skipped = load_group(src, 0, _group("short"), SPEC4, short_videos="skip")
    assert skipped.clips == [] and skipped.skip_item == "short@style_0"
    assert "video 'short' has 30 frames" in str(skipped.skip_reason)
    with pytest.raises(UnknownChoiceError):
        load_group(src, 0, _group("short"), SPEC4, short_videos="wrap")


def test_task_reads_probe_short_videos() -> None:
    src = _Lengths({"short": 30})
    probe = {"clip_start": "first", "short_videos": "skip"}
    assert TASK.load_group(src, 0, _group("short"), SPEC4, probe).skip_reason is not None
    assert TASK.load_group(src, 0, _group("short"), SPEC4, {}).cycled  # cycle by default


def test_one_frame_video_gives_no_static_pair() -> None:
    src = _Lengths({"still": 1})
    item = load_group(src, 0, _group("still"), SPEC4)
    assert item.clips == [] and item.skip_item == "still@style_0"
    assert "has 1 frame" in str(item.skip_reason) and "static pair" in str(item.skip_reason)
    # a dynamic pair of it is still two styles of the same frame
    dynamic = load_group(src, 0, [Pair(0, 0, DYNAMIC, "still", 0, 1, 5)], SPEC4)
    assert dynamic.skip_reason is None and len(dynamic.clips) == 2
