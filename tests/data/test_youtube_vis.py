"""The YouTube-VIS / OVIS reader on tiny fixtures written in the official layout: JSON with RLE
masks (compressed and uncompressed, via pycocotools), None where an instance is absent, OVIS
frame names, pre-stylised folders, and unreadable or mis-sized frames named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_util

from staticdyn.data.frames import write_frame_folder
from staticdyn.data.scan import scan_source
from staticdyn.data.youtube_vis import YouTubeVISSource, decode_segmentation, encode_mask
from staticdyn.errors import DatasetError, VideoReadError

H, W, T = 24, 32, 4


def _uncompressed(mask: np.ndarray) -> dict:
    """Uncompressed RLE (counts as a list of run lengths, column-major), as YouTube-VIS 2019."""
    flat = mask.T.reshape(-1).astype(np.uint8)
    counts, current, run = [], 0, 0
    for v in flat:
        if v != current:
            counts.append(run)
            current, run = v, 0
        run += 1
    counts.append(run)
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def _masks() -> np.ndarray:
    """bool (T, 2, H, W): instance 0 a moving box, instance 1 a box from frame 2 on."""
    m = np.zeros((T, 2, H, W), bool)
    for t in range(T):
        m[t, 0, 4:12, 2 + 3 * t: 10 + 3 * t] = True
        if t >= 2:
            m[t, 1, 14:22, 20:30] = True
    return m


def write_fixture(root: Path, ovis: bool = False) -> tuple[Path, np.ndarray, np.ndarray]:
    """One video ``vid0`` (official names ``00000.jpg``, or OVIS ``img_0000001.jpg``) and a
    second video ``vid1``; returns (root, frames of vid0, masks of vid0)."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (T, H, W, 3), dtype=np.uint8)
    masks = _masks()
    pattern, start = ("img_%07d.jpg", 1) if ovis else ("%05d.jpg", 0)
    videos, anns = [], []
    for vid, name in enumerate(["vid0", "vid1"], start=1):
        write_frame_folder(root / "JPEGImages" / name, frames, pattern, start, jpeg_quality=100)
        files = [f"{name}/{pattern % (start + t)}" for t in range(T)]
        videos.append({"id": vid, "file_names": files, "height": H, "width": W, "length": T})
    segs0 = [encode_mask(masks[t, 0]) for t in range(T)]
    segs1 = [None if not masks[t, 1].any() else _uncompressed(masks[t, 1]) for t in range(T)]
    anns.append({"id": 1, "video_id": 1, "category_id": 1, "segmentations": segs0,
                 "areas": [int(m.sum()) for m in masks[:, 0]], "bboxes": [None] * T,
                 "iscrowd": 0})
    anns.append({"id": 2, "video_id": 1, "category_id": 2, "segmentations": segs1,
                 "areas": [None] * T, "bboxes": [None] * T, "iscrowd": 0})
    data = {"videos": videos, "annotations": anns,
            "categories": [{"id": 1, "name": "person"}, {"id": 2, "name": "dog"}]}
    (root / "train.json").write_text(json.dumps(data))
    return root, frames, masks


@pytest.fixture
def vis_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    return write_fixture(tmp_path / "ytvis")


def test_reads_the_official_layout(vis_root) -> None:
    root, frames, masks = vis_root
    src = YouTubeVISSource(root, num_styles=3)
    assert src.videos == ["vid0", "vid1"] and src.num_styles == 3
    assert src.frame_count("vid0", 1) == T and src.num_frames("vid1") == T
    got = src.read_frames("vid0", 0, [1, 3])
    assert got.shape == (2, H, W, 3) and got.dtype == np.uint8
    assert src.path_of("vid0", 2) == str(root / "JPEGImages" / "vid0")
    assert src.category_names("vid0") == ["person", "dog"]
    # styles change appearance, the same way on every frame; style k is deterministic
    assert not np.array_equal(src.read_frames("vid0", 0, [0]), src.read_frames("vid0", 1, [0]))
    assert np.array_equal(src.read_frames("vid0", 2, [2]), src.read_frames("vid0", 2, [0, 2])[1:])


def test_masks_decode_exactly_with_none_where_absent(vis_root) -> None:
    root, _, masks = vis_root
    src = YouTubeVISSource(root)
    got = src.instance_masks("vid0", [0, 1, 2, 3])
    assert got.shape == (T, 2, H, W) and got.dtype == bool
    assert np.array_equal(got, masks)
    assert not got[:2, 1].any()  # None segmentations: the instance is absent
    # clip order and repeats are kept (a stretched clip repeats frames)
    assert np.array_equal(src.instance_masks("vid0", [3, 3, 0]), masks[[3, 3, 0]])
    assert src.instance_masks("vid1", [0]).shape == (1, 0, H, W)  # no instance annotated
    with pytest.raises(VideoReadError, match="out of range"):
        src.instance_masks("vid0", [T])


def test_segmentation_forms() -> None:
    m = _masks()[2, 1]
    assert np.array_equal(decode_segmentation(_uncompressed(m), H, W), m)
    assert np.array_equal(decode_segmentation(encode_mask(m), H, W), m)
    raw = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))  # bytes counts
    assert np.array_equal(decode_segmentation(raw, H, W), m)
    poly = [[2.0, 2.0, 10.0, 2.0, 10.0, 10.0, 2.0, 10.0]]
    assert decode_segmentation(poly, H, W)[5, 5]
    assert not decode_segmentation(None, H, W).any()
    with pytest.raises(VideoReadError, match="size"):
        decode_segmentation(encode_mask(m), H + 1, W)


def test_ovis_file_names(tmp_path: Path) -> None:
    root, frames, masks = write_fixture(tmp_path / "ovis", ovis=True)
    assert (root / "JPEGImages" / "vid0" / "img_0000001.jpg").is_file()
    src = YouTubeVISSource(root, name="ovis")
    assert src.read_frames("vid0", 0, [0, 1, 2, 3]).shape == (T, H, W, 3)
    assert np.array_equal(src.instance_masks("vid0", range(T)), masks)


def test_stylised_folders(vis_root) -> None:
    root, frames, _ = vis_root
    for k, name in enumerate(["Lynx", "Zuzka"]):
        for vid in ("vid0", "vid1"):
            write_frame_folder(root / "styled" / name / vid, 255 - frames if k else frames,
                               "%05d.jpg", 0, jpeg_quality=100)
    src = YouTubeVISSource(root, styles=["Lynx", "Zuzka"], stylized_root=root / "styled")
    assert src.style_names == ["Lynx", "Zuzka"]
    a, b = src.read_frames("vid0", 0, [1]), src.read_frames("vid0", 1, [1])
    assert np.abs(a.astype(int) + b.astype(int) - 255).mean() < 3  # the inverted copy
    assert src.path_of("vid0", 1) == str(root / "styled" / "Zuzka" / "vid0")
    with pytest.raises(DatasetError, match="style folders missing"):
        YouTubeVISSource(root, styles=["Lynx", "Nope"], stylized_root=root / "styled")
    with pytest.raises(DatasetError, match="at least 2 style folders"):
        YouTubeVISSource(root, styles=["Lynx"], stylized_root=root / "styled")


def test_unreadable_frames_are_named(vis_root) -> None:
    root, _, _ = vis_root
    bad = root / "JPEGImages" / "vid1" / "00002.jpg"
    bad.write_bytes(bad.read_bytes()[:100])  # truncated
    src = YouTubeVISSource(root)
    assert src.stylizer.frame_local(1) and not src.stylizer.frame_local(0)
    src.read_frames("vid1", 1, [0, 1])  # a frame-local style reads only the wanted frames
    for style in (0, 1):  # palette statistics need the whole video: every frame is read
        with pytest.raises(VideoReadError, match=r"vid1/00002\.jpg"):
            src.read_frames("vid1", style, [1, 2] if style else [0])
    (root / "JPEGImages" / "vid1" / "00000.jpg").unlink()  # the scan reads frame 0
    index = scan_source(src, progress=False)
    assert index.readable_videos() == ["vid0"]
    [(path, _, reason)] = {(p, None, r) for p, _, r in index.unreadable(src.style_names)}
    assert path == str(root / "JPEGImages" / "vid1") and "00000.jpg" in reason


def test_a_frame_of_another_size_is_refused(vis_root) -> None:
    root, frames, _ = vis_root
    write_frame_folder(root / "JPEGImages" / "vid1", frames[:1, :, :-2], "%05d.jpg", 1)
    src = YouTubeVISSource(root)
    with pytest.raises(VideoReadError, match=r"00001\.jpg is 30x24, the annotations say 32x24"):
        src.read_frames("vid1", 0, [1])


def test_bad_annotation_files_fail_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "JPEGImages").mkdir()
    (tmp_path / "train.json").write_text(json.dumps({"annotations": []}))
    with pytest.raises(DatasetError, match="not a YouTube-VIS annotation file") as info:
        YouTubeVISSource(tmp_path)
    assert "\n" not in str(info.value)
    data = {"videos": [{"id": 1, "file_names": ["v/0.jpg"], "height": 2, "width": 2}],
            "annotations": [{"id": 5, "video_id": 1, "segmentations": [None, None]}]}
    (tmp_path / "train.json").write_text(json.dumps(data))
    with pytest.raises(DatasetError, match="annotation 5 has 2 segmentations for the 1 frames"):
        YouTubeVISSource(tmp_path)
    with pytest.raises(DatasetError, match="does not exist"):
        YouTubeVISSource(tmp_path / "nope")
    with pytest.raises(DatasetError, match="annotation file .*missing.json does not exist"):
        YouTubeVISSource(tmp_path, annotations="missing.json")
