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


# -- the palette style without holding the decoded video ---------------------------------------

PALETTE_STYLES = ["palette:0", "texture", "palette:2"]


@pytest.fixture
def palette_videos(tmp_path: Path, h264_writer: Callable[..., Path],
                   video_writer: Callable[..., Path]) -> Path:
    """H.264 with B-frames, 34 frames of 62x94 (the palette samples every 3rd pixel, which
    does not divide a frame), a VP8 .webm (no frame count in the header) and an mpeg4 .avi."""
    rng = np.random.default_rng(5)
    clip = rng.integers(0, 256, (34, 62, 94, 3), dtype=np.uint8)
    clip[:, :, :40] //= 4  # a dark half, so the statistics matter
    root = tmp_path / "palette"
    h264_writer(root / "b.mp4", clip)
    video_writer(root / "w.webm", clip[:20, :32, :48], codec="libvpx")
    video_writer(root / "a.avi", clip[:25, :48, :64])
    return root


@pytest.mark.parametrize(("max_frames", "short_side"), [(None, None), (30, 40)])
def test_palette_clips_are_bit_identical_without_the_whole_video(
        palette_videos: Path, max_frames: int | None, short_side: int | None) -> None:
    """A palette-styled clip is the whole decoded video styled, then indexed (the old path),
    bit for bit, while no decoded video is kept; its count is a full decode's."""
    src = VideoFolderSource(palette_videos, stylizer=PALETTE_STYLES, max_frames=max_frames,
                            short_side=short_side)
    for video in src.videos:
        full = decode_video(src.path(video), max_frames, short_side)
        wanted = np.array([1, 4, len(full) - 5, len(full) - 1])
        for style in (0, 2, 1):  # texture after palette: the same frames, not decoded again
            assert src.frame_count(video, style) == len(full)
            np.testing.assert_array_equal(src.read_frames(video, style, wanted),
                                          src.stylizer(full, style)[wanted])
        assert not src._decoded


def test_palette_pass_decodes_once_per_video(palette_videos: Path) -> None:
    """The count comes from the container (checked against its packets); one full pass then
    gathers the sample and keeps the clip's frames, so other styles of those frames, and the
    clip itself, decode nothing more. Without a count in the container (webm), the pass runs
    when the count is asked for, once (its packets tell the count to sample with)."""
    src = VideoFolderSource(palette_videos, stylizer=PALETTE_STYLES)
    wanted = np.array([0, 3, 6])
    assert src.frame_count("b", 0) == 34 and src.frames_decoded == 0
    src.read_frames("b", 0, wanted)
    assert src.frames_decoded == 34
    src.read_frames("b", 2, wanted)
    src.read_frames("b", 1, wanted)
    assert src.frame_count("b", 2) == 34 and src.frames_decoded == 34
    webm = VideoFolderSource(palette_videos, stylizer=PALETTE_STYLES)
    assert webm.frame_count("w", 0) == 20 and webm.frames_decoded == 20


def test_palette_pass_repeats_when_the_container_count_is_wrong(
        palette_videos: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The sample's stride depends on the count: were the container's wrong, the pass runs
    again with the decoded count, so the pixels still equal the full decode's; the frames kept
    from the first pass are a full decode's too."""
    src = VideoFolderSource(palette_videos, stylizer=PALETTE_STYLES)
    wanted = np.array([2, 33])
    monkeypatch.setattr(src, "_exact_count", lambda video: 31)
    assert src._palette_pass("b", wanted)[1] == 34 and src.frames_decoded == 2 * 34
    monkeypatch.undo()
    assert src.frame_count("b", 0) == 34
    full = decode_video(src.path("b"))
    np.testing.assert_array_equal(src.read_frames("b", 0, wanted), src.stylizer(full, 0)[wanted])
    assert src.frames_decoded == 2 * 34


def test_palette_pass_refuses_broken_videos(tmp_path: Path, palette_videos: Path) -> None:
    root = tmp_path / "broken"
    root.mkdir()
    data = (palette_videos / "b.mp4").read_bytes()
    (root / "cut.mp4").write_bytes(data[: len(data) // 2])
    (root / "junk.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    src = VideoFolderSource(root, stylizer=PALETTE_STYLES)
    for video in ("cut", "junk"):
        with pytest.raises(VideoReadError):
            src.frame_count(video, 0)
        with pytest.raises(VideoReadError):
            src.read_frames(video, 0, [0, 1])
