"""Synthetic segmentation set: exact ground truth, DAVIS-like layout, camouflage."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from staticdyn.data.flow import read_flo, read_flow_image, rgb_to_flow
from staticdyn.data.frames import FrameFolderSource, read_image
from staticdyn.data.segmentation import SyntheticSegmentation, read_image_set, read_mask


def test_layout_round_trip(tmp_path: Path) -> None:
    seg = SyntheticSegmentation(n_sequences=2, num_frames=5, size=48, num_styles=2, seed=1)
    root = seg.write_davis_layout(tmp_path / "davis")
    image_set = read_image_set(root)
    assert image_set == {"seq_000": [f"{t:05d}" for t in range(5)],
                         "seq_001": [f"{t:05d}" for t in range(5)]}
    first = (root / "ImageSets" / "480p" / "val.txt").read_text().splitlines()[0]
    assert first == "/JPEGImages/480p/seq_000/00000.jpg /Annotations/480p/seq_000/00000.png"

    video = seg.render("seq_001")
    assert video.flow is not None
    for t in range(5):
        mask = read_mask(root / "Annotations" / "480p" / "seq_001" / f"{t:05d}.png")
        np.testing.assert_array_equal(mask, video.masks[t])
    frame = read_image(root / "JPEGImages" / "480p" / "seq_001" / "00002.jpg")
    assert np.abs(frame.astype(int) - video.frames[2]).mean() < 4

    peaks = json.loads((root / "Flow_gap1" / "seq_001" / "max_magnitude.json").read_text())
    assert sorted(peaks) == [f"{t:05d}" for t in range(4)]  # no flow for the last frame
    for t in range(4):
        np.testing.assert_array_equal(read_flo(root / "Flow_gap1" / "seq_001" / f"{t:05d}.flo"),
                                      video.flow[t])
        image = read_flow_image(root / "FlowImages_gap1" / "seq_001" / f"{t:05d}.png")
        decoded = rgb_to_flow(image, peaks[f"{t:05d}"])
        err = np.linalg.norm(decoded - video.flow[t], axis=-1)
        assert err.max() < 0.05 * max(peaks[f"{t:05d}"], 1e-6) + 1e-3

    # stylized frames: JPEGImages/style_<k>/<seq>, readable as a frame-folder dataset
    styled = FrameFolderSource(root / "JPEGImages", pattern="%05d.jpg")
    assert styled.num_styles == 2 and styled.videos == ["seq_000", "seq_001"]
    assert np.abs(styled.read("seq_000", 1).astype(int) - seg.read("seq_000", 1)).mean() < 4


def test_deterministic_and_a_video_source() -> None:
    a = SyntheticSegmentation(n_sequences=3, num_frames=4, size=32)
    b = SyntheticSegmentation(n_sequences=3, num_frames=4, size=32)
    np.testing.assert_array_equal(a.read("seq_002", 1), b.read("seq_002", 1))
    np.testing.assert_array_equal(a.flow("seq_002"), b.flow("seq_002"))
    assert a.videos == ["seq_000", "seq_001", "seq_002"] and a.num_frames("seq_000") == 4
    assert a.masks("seq_000").any()


def _contrast(camouflage: bool) -> float:
    """Mean colour difference between object and background, over a few sequences."""
    seg = SyntheticSegmentation(n_sequences=6, num_frames=2, size=64, camouflage=camouflage)
    gaps = []
    for seq in seg.videos:
        video = seg.render(seq)
        frame, mask = video.frames[0].astype(float), video.masks[0]
        gaps.append(np.abs(frame[mask].mean(axis=0) - frame[~mask].mean(axis=0)).mean())
    return float(np.mean(gaps))


def test_camouflage_hides_objects_in_single_frames() -> None:
    assert _contrast(camouflage=True) < 0.5 * _contrast(camouflage=False)
