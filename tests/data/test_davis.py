"""The DAVIS-layout source and the centre-bias map of a segmentation dataset."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from staticdyn.data.davis import DavisSource, center_bias, mask_paths
from staticdyn.errors import DatasetError, VideoReadError

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "center_bias.py"


def test_frames_styles_flow_and_masks(tiny_davis) -> None:
    assert tiny_davis.num_styles == 4 and tiny_davis.style_names == [f"style_{k}" for k in
                                                                     range(4)]
    assert tiny_davis.sequences == ["seq_000", "seq_001", "seq_002"]
    assert tiny_davis.videos[:2] == ["seq_000/00000", "seq_000/00001"]
    assert len(tiny_davis.videos) == 15
    item = "seq_001/00002"
    frames = [tiny_davis.read(item, k) for k in range(4)]
    assert all(f.shape == (1, 48, 48, 3) and f.dtype == np.uint8 for f in frames)
    assert not np.array_equal(frames[0], frames[1])  # styles differ
    assert tiny_davis.read_flow(item).shape == (48, 48, 3)
    assert tiny_davis.read_flow(item, backward=True).shape == (48, 48, 3)
    mask = tiny_davis.read_mask(item)
    assert mask.dtype == bool and 0 < mask.sum() < mask.size


def test_missing_pieces_fail_clearly(tiny_davis, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        DavisSource(tmp_path / "nope")
    with pytest.raises(DatasetError, match="style folders missing"):
        DavisSource(tiny_davis.root, styles=["JPEGImages/Lynx", "JPEGImages/style_0"])
    with pytest.raises(VideoReadError):
        tiny_davis.read_flow("seq_000/00004")  # the last frame has no forward flow
    with pytest.raises(VideoReadError):
        tiny_davis.read("no_slash", 0)


def test_styles_and_frames_discovered_without_a_split(tiny_davis) -> None:
    src = DavisSource(tiny_davis.root, split=None, name="x")
    assert src.style_names == [f"style_{k}" for k in range(4)]
    assert src.videos == tiny_davis.videos


def _write_mask(path: Path, mask: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), mask.astype(np.uint8) * 255)


def test_center_bias_of_known_placements(tmp_path: Path) -> None:
    """Mask 1: the top-left quadrant at 480 x 854; mask 2: the whole frame at half size (resized
    by nearest neighbour). Mean: 1 in the top-left quadrant, 0.5 elsewhere."""
    quad = np.zeros((480, 854), bool)
    quad[:240, :427] = True
    ann = tmp_path / "Annotations" / "480p" / "seq"
    _write_mask(ann / "00000.png", quad)
    _write_mask(ann / "00001.png", np.ones((240, 427), bool))
    paths = mask_paths(tmp_path)
    assert [p.name for p in paths] == ["00000.png", "00001.png"]
    bias = center_bias(paths)
    expected = np.full((480, 854), 0.5)
    expected[:240, :427] = 1.0
    np.testing.assert_array_equal(bias, expected)


def test_center_bias_reads_any_nonzero_label_and_other_layouts(tmp_path: Path) -> None:
    labels = np.zeros((4, 6), np.uint8)
    labels[1:3, 2:4] = 2  # a palette index, not 255
    _write_mask(tmp_path / "vid" / "obj" / "0.png", labels > 0)
    bias = center_bias(mask_paths(tmp_path, "tao_vos"), size=(4, 6))
    np.testing.assert_array_equal(bias, labels > 0)
    with pytest.raises(DatasetError, match="no mask files"):
        mask_paths(tmp_path, "imagenet_vid")


def test_center_bias_script_writes_array_and_figure(tiny_davis, tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("center_bias_script", SCRIPT)
    assert spec and spec.loader
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "cb"
    assert script.main([str(tiny_davis.root), "--out", str(out)]) == 0
    bias = np.load(out / "center_bias.npy")
    assert bias.shape == (480, 854) and 0 < bias.max() <= 1
    assert (out / "center_bias.png").stat().st_size > 0
    info = json.loads((out / "center_bias.json").read_text())
    assert info["n_masks"] == 15
    np.testing.assert_allclose(bias, center_bias(mask_paths(tiny_davis.root)))
    assert script.main([str(tmp_path / "nope"), "--out", str(out)]) == 2
