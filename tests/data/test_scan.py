"""The data scan: bad files found up front, named by path; the cache reused and invalidated."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from staticdyn.data.frames import FrameFolderSource
from staticdyn.data.scan import ReadableSubset, load_cache, save_cache, scan_source
from staticdyn.data.synthetic import SyntheticSource
from staticdyn.data.video_folder import VideoFolderSource
from tests.data.conftest import make_frame_tree, moving_square, write_video

BAD = ("truncated", "empty", "garbage")


def make_bad_folder(root: Path, n_good: int = 6, frames: int = 16) -> Path:
    """``n_good`` small mp4 files plus a truncated, an empty and a non-video ``.mp4``."""
    root.mkdir(parents=True, exist_ok=True)
    for i in range(n_good):
        write_video(root / f"good{i}.mp4", moving_square(frames, 32, seed=i))
    full = write_video(root.parent / "full.mp4", moving_square(30, 48, seed=99))
    data = full.read_bytes()
    (root / "truncated.mp4").write_bytes(data[: len(data) // 2])
    (root / "empty.mp4").write_bytes(b"")
    (root / "garbage.mp4").write_bytes(np.random.default_rng(0).bytes(3000))
    return root


@pytest.fixture
def bad_folder(tmp_path: Path) -> Path:
    return make_bad_folder(tmp_path / "videos")


def _counting(monkeypatch: pytest.MonkeyPatch, cls: type) -> list[tuple[str, int]]:
    calls: list[tuple[str, int]] = []
    original = cls.scan_entry

    def counted(self, video: str, style: int) -> tuple[int, int, int]:
        calls.append((video, style))
        return original(self, video, style)

    monkeypatch.setattr(cls, "scan_entry", counted)
    return calls


def test_bad_files_found_and_named_by_path(bad_folder: Path) -> None:
    src = VideoFolderSource(bad_folder)
    index = scan_source(src, progress=False, workers=1)
    assert index.readable_videos() == [f"good{i}" for i in range(6)]
    bad = index.unreadable(src.style_names)
    assert sorted(Path(p).name for p, _, _ in bad) == sorted(f"{n}.mp4" for n in BAD)
    assert all(Path(p).is_absolute() or Path(p).exists() for p, _, _ in bad)
    assert {style for _, style, _ in bad} == {"all styles"}  # one file serves every style
    assert all(reason for _, _, reason in bad)
    good = index.entry("good0", 2)
    assert good is not None and (good.frames, good.height, good.width) == (16, 32, 32)


def test_process_pool_gives_the_same_index(bad_folder: Path) -> None:
    src = VideoFolderSource(bad_folder)
    inline = scan_source(src, progress=False, workers=1)
    pooled = scan_source(VideoFolderSource(bad_folder), progress=False, workers=2)
    assert pooled.entries == inline.entries
    assert pooled.fingerprint() == inline.fingerprint()


def test_cache_reused_then_invalidated_by_a_changed_file(
        bad_folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _counting(monkeypatch, VideoFolderSource)
    cache = tmp_path / "scan_index.json"
    first = scan_source(VideoFolderSource(bad_folder), cache, "s", progress=False, workers=1)
    assert len(calls) == 9  # each file once, not once per style
    save_cache(cache, first, "s")
    calls.clear()
    again = scan_source(VideoFolderSource(bad_folder), cache, "s", progress=False, workers=1)
    assert calls == [] and again.entries == first.entries
    st = os.stat(bad_folder / "good3.mp4")
    os.utime(bad_folder / "good3.mp4", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    third = scan_source(VideoFolderSource(bad_folder), cache, "s", progress=False, workers=1)
    assert [v for v, _ in calls] == ["good3"]
    assert third.fingerprint() == first.fingerprint()  # probed again, same content
    calls.clear()
    write_video(bad_folder / "good3.mp4", moving_square(20, 32, seed=3))  # rewritten
    fourth = scan_source(VideoFolderSource(bad_folder), cache, "s", progress=False, workers=1)
    assert [v for v, _ in calls] == ["good3"] and fourth.entry("good3", 0).frames == 20
    assert fourth.fingerprint() != first.fingerprint()
    calls.clear()
    scan_source(VideoFolderSource(bad_folder), cache, "other settings", progress=False,
                workers=1)
    assert len(calls) == 9  # made with other dataset settings: not reused
    assert load_cache(cache, "other settings") == {}


def test_frame_folders_scanned_per_style(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    root = make_frame_tree(tmp_path / "frames", ["a", "b", "c"], n_frames=6, size=24)
    src = FrameFolderSource(root)
    index = scan_source(src, progress=False, workers=1)
    assert index.readable_videos() == src.videos
    video = src.videos[0]
    path = Path(src.path_of(video, 1))
    assert path.is_dir() and index.entry(video, 1).frames == 6
    cache = tmp_path / "c.json"
    save_cache(cache, index, "")
    for f in sorted(path.iterdir())[:1]:
        f.write_bytes(b"")  # a frame rewritten (broken): the folder's key changes
    calls = _counting(monkeypatch, FrameFolderSource)
    again = scan_source(FrameFolderSource(root), cache, "", progress=False, workers=1)
    assert calls == [(video, 1)]
    assert video not in again.readable_videos()
    assert again.unreadable(src.style_names)[0][:2] == (str(path), src.style_names[1])


def test_generated_sources_are_not_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    src = SyntheticSource(n_videos=5, num_frames=8, size=16, num_styles=3)
    calls = _counting(monkeypatch, SyntheticSource)
    index = scan_source(src, progress=False)
    assert calls == [] and index.generated and index.readable_videos() == src.videos
    assert index.fingerprint() == scan_source(src, progress=False).fingerprint()


def test_readable_subset_reads_through_the_source(bad_folder: Path) -> None:
    src = VideoFolderSource(bad_folder)
    sub = ReadableSubset(src, ["good1", "good4"])
    assert sub.videos == ["good1", "good4"] and sub.num_styles == src.num_styles
    np.testing.assert_array_equal(sub.read_frames("good4", 2, [0, 3]),
                                  src.read_frames("good4", 2, [0, 3]))
