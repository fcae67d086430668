"""The procedural generator: deterministic, lazy, labelled, exact ground truth, layout writer."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from staticdyn.data.frames import FrameFolderSource
from staticdyn.data.synthetic import (
    APPEARANCE_CLASSES,
    MOTION_CLASSES,
    SyntheticSource,
    render_video,
)
from staticdyn.errors import UnknownChoiceError, VideoReadError


def test_same_seed_same_pixels_and_lazy_generation() -> None:
    a = SyntheticSource(n_videos=5, num_frames=8, size=32, seed=7)
    b = SyntheticSource(n_videos=500_000, num_frames=8, size=32, seed=7)  # free: nothing rendered
    c = SyntheticSource(n_videos=5, num_frames=8, size=32, seed=8)
    for style in range(a.num_styles):
        np.testing.assert_array_equal(a.read("synth_00003", style), b.read("synth_00003", style))
    assert not np.array_equal(a.read("synth_00003", 0), c.read("synth_00003", 0))
    assert not np.array_equal(a.read("synth_00003", 0), a.read("synth_00004", 0))


def test_shapes_dtypes_ids() -> None:
    src = SyntheticSource(n_videos=3, num_frames=10, size=40, num_styles=5)
    assert src.videos == ["synth_00000", "synth_00001", "synth_00002"]
    assert src.num_styles == 5 and src.style_names[-1] == "style_4"
    for k in range(5):
        x = src.read("synth_00001", k)
        assert x.shape == (10, 40, 40, 3) and x.dtype == np.uint8
    assert src.num_frames("synth_00001") == 10
    with pytest.raises(VideoReadError):
        src.read("synth_99999", 0)
    with pytest.raises(UnknownChoiceError):
        SyntheticSource(classes="colour")


def test_labels_follow_class_mode() -> None:
    motion = SyntheticSource(n_videos=25, classes="motion")
    assert [motion.label(v) for v in motion.videos[:12]] == [*range(10), 0, 1]
    assert motion.num_classes == len(MOTION_CLASSES) == 10
    appearance = SyntheticSource(n_videos=25, classes="appearance")
    assert appearance.label("synth_00013") == 3
    assert appearance.num_classes == len(APPEARANCE_CLASSES)
    assert SyntheticSource(n_videos=3).label("synth_00001") is None


def test_generation_is_fast() -> None:
    """One 32-frame 112x112 video well under 50 ms (median; loose to survive a busy machine)."""
    render_video(0, 0)
    times = []
    for i in range(7):
        t0 = time.perf_counter()
        render_video(0, i, num_frames=32, size=112)
        times.append(time.perf_counter() - t0)
    assert float(np.median(times)) < 0.05


def _mean_flow(i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    video = render_video(1, i, num_frames=12, size=64, classes="motion", with_flow=True,
                         n_objects=1)
    assert video.flow is not None
    inside = video.masks[:-1]
    return video.flow[inside], np.argwhere(inside)[:, [2, 1]].astype(np.float32), video.masks


@pytest.mark.parametrize("cls", range(len(MOTION_CLASSES)), ids=list(MOTION_CLASSES))
def test_motion_classes_move_as_named(cls: int) -> None:
    """The exact flow of each motion class has the sign its name promises."""
    flow, pos, masks = _mean_flow(cls)
    name = MOTION_CLASSES[cls]
    mean = flow.mean(axis=0)
    centre = pos.mean(axis=0)
    rel = pos - centre
    curl = np.mean(rel[:, 0] * flow[:, 1] - rel[:, 1] * flow[:, 0])  # > 0: clockwise on screen
    div = np.mean((rel * flow).sum(axis=1))
    if name == "translate_right":
        assert mean[0] > 0.3
    elif name == "translate_left":
        assert mean[0] < -0.3
    elif name == "translate_down":
        assert mean[1] > 0.3
    elif name == "translate_up":
        assert mean[1] < -0.3
    elif name == "rotate_cw":
        assert curl > 0 and np.abs(mean).max() < 0.3
    elif name == "rotate_ccw":
        assert curl < 0 and np.abs(mean).max() < 0.3
    elif name == "oscillate_h":
        assert np.abs(flow[:, 0]).mean() > 3 * np.abs(flow[:, 1]).mean()
    elif name == "oscillate_v":
        assert np.abs(flow[:, 1]).mean() > 3 * np.abs(flow[:, 0]).mean()
    elif name == "grow":
        assert div > 0 and masks[-1].sum() > masks[0].sum()
    elif name == "shrink":
        assert div < 0 and masks[-1].sum() < masks[0].sum()


def test_exact_flow_explains_the_motion() -> None:
    """Warping frame t by the ground-truth flow matches frame t+1 better than no motion does."""
    video = render_video(2, 0, num_frames=8, size=64, classes="motion", with_flow=True,
                         n_objects=1)
    assert video.flow is not None and video.flow.shape == (7, 64, 64, 2)
    err_true, err_zero = [], []
    for t in range(7):
        ys, xs = np.nonzero(video.masks[t] & video.masks[t + 1])
        nx = np.clip(np.rint(xs + video.flow[t, ys, xs, 0]).astype(int), 0, 63)
        ny = np.clip(np.rint(ys + video.flow[t, ys, xs, 1]).astype(int), 0, 63)
        src = video.frames[t, ys, xs].astype(int)
        err_true.append(np.abs(src - video.frames[t + 1, ny, nx]).mean())
        err_zero.append(np.abs(src - video.frames[t + 1, ys, xs]).mean())
    assert np.mean(err_true) < 0.6 * np.mean(err_zero)
    assert (video.flow[:, ~video.masks[:-1].any(axis=0)] == 0).all()  # static background


@pytest.mark.parametrize("pattern", ["frame_%05d.png", "frame_%05d.jpg"])
def test_write_layout_round_trip(tmp_path: Path, pattern: str) -> None:
    src = SyntheticSource(n_videos=3, num_frames=5, size=24, num_styles=3, classes="motion")
    root = src.write_layout(tmp_path / "layout", pattern=pattern)
    assert (root / "style_2" / "synth_00001" / (pattern % 1)).is_file()  # 1-based
    assert not (root / "style_0" / "synth_00000" / (pattern % 0)).exists()
    back = FrameFolderSource(root, pattern=pattern, labels_csv="labels.csv")
    assert back.videos == src.videos and back.num_styles == 3
    assert [back.label(v) for v in back.videos] == [0, 1, 2]
    for k in range(3):
        original, read = src.read("synth_00002", k), back.read("synth_00002", k)
        assert read.shape == original.shape
        if pattern.endswith(".png"):
            np.testing.assert_array_equal(read, original)
        else:
            # JPEG (quality 95, 4:4:4) of a grainy 24 px texture: about 3 grey levels
            assert np.abs(read.astype(int) - original).mean() < 4
