"""Frame-folder reader: naming conventions, and every bad-input case with a clear reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from staticdyn.data.frames import FrameFolderSource, load_labels_csv, pattern_regex
from staticdyn.errors import DatasetError, VideoReadError

Tree = Callable[..., Path]
Index = Callable[[np.ndarray], list[int]]


@pytest.mark.parametrize(("pattern", "start"), [("frame_%05d.jpg", 1), ("%06d.jpg", 1),
                                                ("image_%05d.jpg", 0), ("%d.png", 3)])
def test_reads_each_naming_convention(frame_tree: Tree, pattern: str, start: int,
                                      decode_index: Index) -> None:
    root = frame_tree(["a", "b"], n_frames=12, pattern=pattern, start_index=start)
    src = FrameFolderSource(root, pattern=pattern)
    assert src.videos == ["a", "b"] and src.num_styles == 2
    frames = src.read("b", 1)
    assert frames.shape == (12, 16, 16, 3) and frames.dtype == np.uint8
    assert decode_index(frames) == list(range(12))  # numeric order, not string order
    assert src.num_frames("a") == 12
    # read_frames gives the distinct indices in order, and decodes only those files
    before = src.frames_decoded
    assert decode_index(src.read_frames("a", 0, [3, 0, 3])) == [0, 3]
    assert src.frames_decoded - before == 2 and src.frame_count("a", 0) == 12


def test_style_folders_in_numeric_order_and_explicit(frame_tree: Tree) -> None:
    root = frame_tree(["v"], styles=["style_1", "style_2", "style_10"])
    assert FrameFolderSource(root).style_names == ["style_1", "style_2", "style_10"]
    assert FrameFolderSource(root, styles=[10, 1]).style_names == ["style_10", "style_1"]


def test_missing_root_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        FrameFolderSource(tmp_path / "nope")


def test_too_few_or_missing_style_folders(frame_tree: Tree) -> None:
    root = frame_tree(["v"], styles=["style_0"])
    with pytest.raises(DatasetError, match="at least 2 style folders"):
        FrameFolderSource(root)
    with pytest.raises(DatasetError, match="missing"):
        FrameFolderSource(root, styles=[0, 3])


def test_video_missing_in_one_style(frame_tree: Tree) -> None:
    root = frame_tree(["a", "b"])
    for f in (root / "style_1" / "b").iterdir():
        f.unlink()
    (root / "style_1" / "b").rmdir()
    src = FrameFolderSource(root)
    src.read("b", 0)
    with pytest.raises(VideoReadError, match="no folder in style 'style_1'"):
        src.read("b", 1)


def test_missing_frame(frame_tree: Tree) -> None:
    root = frame_tree(["a"], n_frames=6)
    (root / "style_0" / "a" / "frame_00004.jpg").unlink()
    with pytest.raises(VideoReadError, match="missing frame frame_00004.jpg"):
        FrameFolderSource(root).read("a", 0)


def test_style_with_fewer_frames(frame_tree: Tree) -> None:
    root = frame_tree(["a"], n_frames=6)
    (root / "style_1" / "a" / "frame_00006.jpg").unlink()
    with pytest.raises(VideoReadError, match="has 5 frames"):
        FrameFolderSource(root).read("a", 1)


def test_corrupt_and_truncated_jpeg(frame_tree: Tree) -> None:
    root = frame_tree(["a", "b"], n_frames=4)
    (root / "style_0" / "a" / "frame_00002.jpg").write_bytes(b"definitely not a jpeg")
    good = (root / "style_0" / "b" / "frame_00003.jpg").read_bytes()
    (root / "style_0" / "b" / "frame_00003.jpg").write_bytes(good[: len(good) // 2])
    src = FrameFolderSource(root)
    with pytest.raises(VideoReadError, match="frame_00002.jpg"):
        src.read("a", 0)
    with pytest.raises(VideoReadError, match="truncated"):
        src.read("b", 0)
    src.read("a", 1)  # the other style is fine


def test_wrong_naming(frame_tree: Tree) -> None:
    root = frame_tree(["a"], pattern="%06d.jpg")
    with pytest.raises(VideoReadError, match=r"no frames named like 'frame_%05d.jpg'.*000001.jpg"):
        FrameFolderSource(root).read("a", 0)
    root2 = frame_tree(["b"], pattern="frame_%06d.jpg")  # right prefix, wrong width
    with pytest.raises(VideoReadError, match="no frames named like"):
        FrameFolderSource(root2, pattern="frame_%05d.jpg").read("b", 0)


def test_mixed_frame_sizes(frame_tree: Tree) -> None:
    root = frame_tree(["a"], n_frames=3)
    cv2.imwrite(str(root / "style_0" / "a" / "frame_00002.jpg"), np.zeros((8, 8, 3), np.uint8))
    with pytest.raises(VideoReadError, match="different sizes"):
        FrameFolderSource(root).read("a", 0)


def test_labels_csv_names_and_ints(tmp_path: Path, frame_tree: Tree) -> None:
    root = frame_tree(["a", "b", "c"])
    (root / "labels.csv").write_text("video,label\na,zebra\nb,apple\nc,zebra\n")
    src = FrameFolderSource(root, labels_csv="labels.csv")
    assert [src.label(v) for v in src.videos] == [1, 0, 1] and src.class_names == ["apple", "zebra"]
    (tmp_path / "ints.csv").write_text("video,label\na,2\n")
    assert load_labels_csv(tmp_path / "ints.csv") == ({"a": 2}, ["0", "1", "2"])
    (tmp_path / "bad.csv").write_text("name,cls\na,1\n")
    with pytest.raises(DatasetError, match="video,label"):
        load_labels_csv(tmp_path / "bad.csv")


def test_pattern_regex() -> None:
    assert pattern_regex("frame_%05d.jpg").match("frame_00012.jpg")
    assert not pattern_regex("frame_%05d.jpg").match("frame_0012.jpg")
    assert pattern_regex("%d.png").match("123.png")
    with pytest.raises(ValueError):
        pattern_regex("frame.jpg")
