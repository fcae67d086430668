"""Folder of video files: decoding, styles on the fly, labels, cache, and broken files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

from staticdyn.data.video_folder import VideoFolderSource, decode_video
from staticdyn.errors import DatasetError, VideoReadError


@pytest.fixture
def videos(tmp_path: Path, video_writer: Callable[..., Path],
           square_clip: Callable[..., np.ndarray]) -> Path:
    root = tmp_path / "videos"
    video_writer(root / "walk.mp4", square_clip(16, 32, seed=1))
    video_writer(root / "sub" / "jump.webm", square_clip(12, 32, seed=2), codec="libvpx")
    video_writer(root / "run.avi", square_clip(10, 48, seed=3))
    (root / "notes.txt").write_text("not a video")
    return root


def test_reads_every_container_and_styles(videos: Path) -> None:
    src = VideoFolderSource(videos, num_styles=3)
    assert src.videos == ["run", "sub/jump", "walk"]
    assert src.num_frames("walk") == 16
    a, b = src.read("walk", 0), src.read("walk", 2)
    assert a.shape == b.shape == (16, 32, 32, 3) and a.dtype == np.uint8
    assert np.abs(a.astype(int) - b).mean() > 10
    assert src.read("sub/jump", 1).shape == (12, 32, 32, 3)
    assert src.read("run", 1).shape == (10, 48, 48, 3)


def test_decode_options(videos: Path) -> None:
    frames = decode_video(videos / "run.avi", max_frames=4, short_side=24)
    assert frames.shape == (4, 24, 24, 3)


def test_labels_csv(videos: Path) -> None:
    (videos / "labels.csv").write_text("video,label\nwalk,slow\nsub/jump,fast\nrun,fast\n")
    src = VideoFolderSource(videos, labels_csv="labels.csv")
    assert [src.label(v) for v in src.videos] == [0, 0, 1]


def test_missing_or_empty_root(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        VideoFolderSource(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no video files"):
        VideoFolderSource(tmp_path / "empty")


def _zero_frame_video(path: Path) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        container.start_encoding()


@pytest.mark.parametrize("kind", ["garbage", "empty", "truncated_mp4", "truncated_mkv",
                                  "zero_frames_mp4", "zero_frames_mkv"])
def test_broken_videos_raise_video_read_error(tmp_path: Path, kind: str,
                                              video_writer: Callable[..., Path],
                                              square_clip: Callable[..., np.ndarray]) -> None:
    root = tmp_path / "v"
    root.mkdir()
    video_writer(root / "good.mp4", square_clip(8, 32))
    if kind == "garbage":
        bad = root / "bad.mp4"
        bad.write_bytes(np.random.default_rng(0).bytes(3000))
    elif kind == "empty":
        bad = root / "bad.mp4"
        bad.write_bytes(b"")
    elif kind.startswith("truncated"):
        ext = kind.rsplit("_", 1)[1]
        full = video_writer(tmp_path / f"full.{ext}",
                            np.random.default_rng(1).integers(0, 256, (30, 48, 48, 3), np.uint8))
        bad = root / f"bad.{ext}"
        data = full.read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    else:
        bad = root / f"bad.{kind.rsplit('_', 1)[1]}"
        _zero_frame_video(bad)
    src = VideoFolderSource(root)
    with pytest.raises(VideoReadError):
        src.read("bad", 0)
    assert src.read("good", 1).shape[0] == 8  # one bad file does not spoil the source


def test_cache_dir(tmp_path: Path, videos: Path) -> None:
    cache = tmp_path / "cache"
    src = VideoFolderSource(videos, cache_dir=cache, short_side=16)
    first = src.read("sub/jump", 1)
    entry = cache / "style_1" / "sub" / "jump.npy"
    assert entry.is_file()
    again = VideoFolderSource(videos, cache_dir=cache, short_side=16)
    again._paths["sub/jump"] = tmp_path / "gone.webm"  # would fail if it decoded again
    np.testing.assert_array_equal(again.read("sub/jump", 1), first)
    with pytest.raises(DatasetError, match="other settings"):
        VideoFolderSource(videos, cache_dir=cache, short_side=32)
