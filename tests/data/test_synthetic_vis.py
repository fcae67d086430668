"""The embedded VIS set: written in the YouTube-VIS layout, read back by the real reader, with
exact instance masks (the RLE in the JSON decodes to the generator's masks), None where an
instance has not entered yet, deterministic by seed and written once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from pycocotools import mask as mask_util

from staticdyn.data.frames import read_image
from staticdyn.data.synthetic_vis import ANNOTATIONS, SyntheticVISSource, render_vis_video
from staticdyn.data.youtube_vis import YouTubeVISSource
from staticdyn.errors import DatasetError

KW = {"n_videos": 3, "num_frames": 6, "size": 32, "n_objects": 3, "absent_frames": 2, "seed": 1}


@pytest.fixture(scope="module")
def synvis(tmp_path_factory: pytest.TempPathFactory) -> SyntheticVISSource:
    return SyntheticVISSource(cache_dir=tmp_path_factory.mktemp("synvis"), **KW)


def test_written_in_the_official_layout_and_read_by_the_real_reader(synvis) -> None:
    assert isinstance(synvis, YouTubeVISSource) and synvis.name == "synthetic_vis"
    data = json.loads((synvis.root / ANNOTATIONS).read_text())
    assert set(data) == {"videos", "annotations", "categories"}
    v = data["videos"][0]
    assert v["file_names"][:2] == ["synvis_0000/00000.jpg", "synvis_0000/00001.jpg"]
    assert (v["height"], v["width"], v["length"]) == (32, 32, 6)
    assert (synvis.root / "JPEGImages" / "synvis_0000" / "00005.jpg").is_file()
    assert synvis.videos == ["synvis_0000", "synvis_0001", "synvis_0002"]
    assert len(data["annotations"]) == 3 * 3 and synvis.num_styles == 4


def test_masks_are_exact(synvis) -> None:
    data = json.loads((synvis.root / ANNOTATIONS).read_text())
    saw_none = False
    for i, video in enumerate(synvis.videos):
        render = render_vis_video(KW["seed"], i, KW["num_frames"], KW["size"], KW["n_objects"],
                                  KW["absent_frames"])
        masks = synvis.instance_masks(video, range(KW["num_frames"]))
        assert np.array_equal(masks, render.masks)  # through the reader
        for k, ann in enumerate(a for a in data["annotations"] if a["video_id"] == i + 1):
            for t, seg in enumerate(ann["segmentations"]):  # straight from the JSON
                if seg is None:
                    saw_none = True
                    assert not render.masks[t, k].any()
                    continue
                rle = {"size": seg["size"], "counts": seg["counts"].encode()}
                assert np.array_equal(mask_util.decode(rle).astype(bool), render.masks[t, k])
                assert ann["areas"][t] == int(render.masks[t, k].sum())
        # instances are visible masks: a later object occludes an earlier one
        assert (render.masks.sum(axis=1) <= 1).all()
        assert render.masks[0, 0].any()  # the first object is there from the start
    assert saw_none  # some object enters late: None segmentations, as in the official sets


def test_frames_are_the_render_up_to_jpeg(synvis) -> None:
    render = render_vis_video(KW["seed"], 1, KW["num_frames"], KW["size"], KW["n_objects"],
                              KW["absent_frames"])
    disk = read_image(synvis.root / "JPEGImages" / "synvis_0001" / "00003.jpg")
    assert np.abs(disk.astype(int) - render.frames[3]).mean() < 4


def test_deterministic_by_seed_and_written_once(synvis, tmp_path: Path) -> None:
    again = SyntheticVISSource(cache_dir=tmp_path, **KW)
    assert (again.root / ANNOTATIONS).read_text() == (synvis.root / ANNOTATIONS).read_text()
    stamp = (again.root / ANNOTATIONS).stat().st_mtime_ns
    SyntheticVISSource(cache_dir=tmp_path, **KW)  # cached: not rewritten
    assert (again.root / ANNOTATIONS).stat().st_mtime_ns == stamp
    other = SyntheticVISSource(cache_dir=tmp_path, **{**KW, "seed": 2})
    assert other.root != again.root
    assert not np.array_equal(other.read_frames("synvis_0000", 1, [0]),
                              again.read_frames("synvis_0000", 1, [0]))
    with pytest.raises(DatasetError, match="n_objects >= 1"):
        SyntheticVISSource(cache_dir=tmp_path, **{**KW, "n_objects": 0})
