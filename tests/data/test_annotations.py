"""The authors' datasets from tiny annotation files and frame folders created here."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from staticdyn.data.annotations import ActivityNetSource, Diving48Source, SSv2Source
from staticdyn.errors import DatasetError, UnknownChoiceError

Tree = Callable[..., Path]
Index = Callable[[np.ndarray], list[int]]


def _anet_entry(subset: str, segments: list[tuple[float, float]], label: str,
                num_frames: int | None = None) -> dict:
    entry = {"subset": subset, "duration": 20.0,
             "annotations": [{"segment": list(s), "label": label} for s in segments]}
    if num_frames is not None:
        entry["num_frames"] = num_frames
    return entry


@pytest.fixture
def activitynet(frame_tree: Tree) -> Path:
    lengths = {"v_ok": 40, "v_short": 20, "v_shortseg": 40, "v_second": 40, "plain": 40,
               "v_train": 40}
    root = frame_tree(list(lengths), styles=["style_1", "style_2"], pattern="%06d.jpg",
                      lengths=lengths, size=8)
    database = {
        "ok": _anet_entry("validation", [(1.0, 5.3)], "Walking"),          # frames 5..26
        "short": _anet_entry("validation", [(0.0, 3.9)], "Running"),       # 20 frames < 32
        "shortseg": _anet_entry("validation", [(0.0, 2.9)], "Running"),    # 14-frame segment
        "second": _anet_entry("validation", [(0.0, 7.9), (6.0, 8.0)], "Walking"),  # 2nd short
        "plain": _anet_entry("validation", [(2.0, 12.0)], "Running", num_frames=40),
        "nofolder": _anet_entry("validation", [(0.0, 7.0)], "Walking"),
        "train": _anet_entry("training", [(0.0, 7.0)], "Zumba"),
    }
    (root / "activitynet_v13.json").write_text(json.dumps({"database": database,
                                                           "version": "1.3"}))
    return root


def test_activitynet_selection_and_segments(activitynet: Path, decode_index: Index) -> None:
    src = ActivityNetSource(activitynet)
    assert src.videos == ["ok", "plain"]
    assert src.style_names == ["style_1", "style_2"]
    assert set(src.skipped) == {"short", "shortseg", "second", "nofolder"}
    assert src.class_names == ["Running", "Walking", "Zumba"]
    assert src.label("ok") == 1 and src.label("plain") == 0
    # segment [1.0, 5.3] s at 5 fps -> frames [5, 26): files 000006..000026
    assert src.num_frames("ok") == 21
    assert decode_index(src.read("ok", 1)) == list(range(5, 26))
    # the end is clamped to the video: [10, 60) -> [10, 40)
    assert decode_index(src.read("plain", 0)) == list(range(10, 40))


def test_activitynet_first_segment_rule(activitynet: Path) -> None:
    src = ActivityNetSource(activitynet, segment_rule="first")
    assert src.videos == ["ok", "second", "plain"]  # annotation-file order
    with pytest.raises(UnknownChoiceError):
        ActivityNetSource(activitynet, segment_rule="last")


def test_activitynet_errors(activitynet: Path) -> None:
    with pytest.raises(DatasetError, match="annotation file"):
        ActivityNetSource(activitynet, annotation_file="missing.json")
    with pytest.raises(DatasetError, match="no usable video"):
        ActivityNetSource(activitynet, subset="testing")
    with pytest.raises(DatasetError, match="does not exist"):
        ActivityNetSource(activitynet / "nope")


@pytest.fixture
def ssv2(frame_tree: Tree) -> Path:
    ids = [str(100 + i) for i in range(12)]
    lengths = {vid: 10 for vid in ids}
    lengths["103"] = 5  # too short
    root = frame_tree([v for v in ids if v != "111"], styles=["style_0", "style_1"],
                      pattern="%06d.jpg", lengths=lengths, size=8)
    templates = ["Pushing [something] from left to right", "Holding [something]"]
    entries = [{"id": vid, "label": "x", "template": templates[i % 2], "placeholders": []}
               for i, vid in enumerate(ids)]
    (root / "something-something-v2-validation.json").write_text(json.dumps(entries))
    (root / "something-something-v2-labels.json").write_text(json.dumps(
        {"Holding something": "0", "Pushing something from left to right": "1"}))
    return root


def test_ssv2_subset_matches_python_random_sample(ssv2: Path) -> None:
    src = SSv2Source(ssv2, subset_size=6, subset_seed=10)
    entries = json.loads((ssv2 / "something-something-v2-validation.json").read_text())
    drawn = {e["id"] for e in random.Random(10).sample(entries, 6)}
    expected = [e["id"] for e in entries if e["id"] in drawn and e["id"] not in ("103", "111")]
    assert src.videos == expected
    assert set(src.skipped) <= {"103", "111"}
    first = src.videos[0]
    assert src.label(first) == (1 - int(first) % 2)  # even index: "Pushing ..." = 1
    assert src.num_frames(first) == 10


def test_ssv2_all_videos_and_no_labels(ssv2: Path) -> None:
    src = SSv2Source(ssv2, subset_size=None, labels_file=None)
    assert len(src.videos) == 10 and src.skipped.keys() == {"103", "111"}
    assert src.label(src.videos[0]) is None
    with pytest.raises(DatasetError, match="annotation file"):
        SSv2Source(ssv2, labels_file="nope.json")


def test_diving48(frame_tree: Tree, decode_index: Index) -> None:
    root = frame_tree(["a", "b"], pattern="image_%05d.jpg", start_index=0,
                      lengths={"a": 12, "b": 7}, size=8)
    entries = [{"vid_name": "a", "label": 5, "start_frame": 0, "end_frame": 9},
               {"vid_name": "b", "label": 2, "start_frame": 3, "end_frame": 30},
               {"vid_name": "c", "label": 1, "start_frame": 0, "end_frame": 9}]
    (root / "Diving48_V2_test.json").write_text(json.dumps(entries))
    src = Diving48Source(root)
    assert src.videos == ["a", "b"] and "c" in src.skipped
    assert src.label("a") == 5 and len(src.class_names) == 6
    assert decode_index(src.read("a", 1)) == list(range(9))  # first end - start frames
    assert src.num_frames("b") == 7  # clamped to the frames on disk
