"""Task ``vis``: the action task's clip pairs (both samplers), T consecutive annotated frames,
and each clip's ground-truth masks carried along, shuffled with a shuffled clip's frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from staticdyn.data.clips import clip_indices
from staticdyn.data.pairs import DYNAMIC, STATIC, group_pairs
from staticdyn.data.scan import ReadableSubset
from staticdyn.data.spec import ClipSpec
from staticdyn.data.synthetic import SyntheticSource
from staticdyn.data.synthetic_vis import SyntheticVISSource
from staticdyn.data.tasks import get_task
from staticdyn.data.tasks.action import TASK as ACTION
from staticdyn.data.tasks.vis import load_vis_group, transform_masks
from staticdyn.errors import DatasetError

SPEC = ClipSpec(frames=4, n_sample_frames=4, sampling_rate=1, crop=24, short_side=24,
                mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


@pytest.fixture(scope="module")
def synvis(tmp_path_factory: pytest.TempPathFactory) -> SyntheticVISSource:
    return SyntheticVISSource(cache_dir=tmp_path_factory.mktemp("synvis"), n_videos=4,
                              num_frames=8, size=32, seed=3)


@pytest.mark.parametrize("sampler", ["shared", "authors"])
def test_pairs_are_the_action_tasks(synvis, sampler: str) -> None:
    probe = {"n_pairs": 8, "seed": 0, "sampler": sampler}
    task = get_task("vis")
    assert task.name == "vis"
    assert task.sample(synvis, probe) == ACTION.sample(synvis, probe)


def test_a_clip_is_t_consecutive_annotated_frames() -> None:
    assert clip_indices(8, SPEC, start=3).tolist() == [3, 4, 5, 6]
    assert clip_indices(3, SPEC, short_videos="stretch").tolist() == [0, 0, 1, 2]


def test_groups_carry_masks_shuffled_with_the_frames(synvis) -> None:
    probe = {"n_pairs": 8, "seed": 0, "sampler": "shared", "vis_pooling": "matched",
             "clip_start": "random"}
    group = group_pairs(get_task("vis").sample(synvis, probe))[0]
    item = load_vis_group(synvis, 0, group, SPEC, probe)
    assert item.skip_reason is None
    assert len(item.masks) == len(item.clips) == 3 and [p.factor for p in group] == [DYNAMIC,
                                                                                     STATIC]
    a = item.masks[0]
    assert a.dtype == torch.bool and a.shape == (4, 3, 24, 24)
    idx = clip_indices(8, SPEC, item.start, "stretch")
    expected = transform_masks(synvis.instance_masks(group[0].video, idx), SPEC)
    assert torch.equal(a, expected) and a.any()
    assert torch.equal(item.masks[1], a)  # dynamic: the same frames in another style
    # static: the shuffled clip's frames and masks follow the same permutation
    clip_a, shuffled = item.clips[0][0], item.clips[2][0]
    perm = [next(j for j in range(4) if torch.equal(shuffled[:, t], clip_a[:, j]))
            for t in range(4)]
    assert sorted(perm) == [0, 1, 2, 3]
    assert torch.equal(item.masks[2], a[perm])


def test_mean_pooling_builds_no_masks(synvis) -> None:
    probe = {"n_pairs": 8, "seed": 0, "sampler": "authors"}
    group = group_pairs(get_task("vis").sample(synvis, probe))[0]
    item = load_vis_group(synvis, 0, group, SPEC, probe)
    assert item.skip_reason is None and item.masks == [] and len(item.clips) == 2


def test_masks_follow_the_frames_spatial_transform() -> None:
    m = np.zeros((1, 1, 40, 60), bool)
    m[0, 0, 10:30, 20:40] = True  # centred box: 20 x 20 of a 40 x 60 frame
    spec = ClipSpec(frames=1, n_sample_frames=1, crop=20, short_side=20)
    out = transform_masks(m, spec)  # short side 40 -> 20: (20, 30), centre crop 20 x 20
    assert out.shape == (1, 1, 20, 20)
    assert out[0, 0, 5:15, 5:15].all() and out.sum() == 100
    assert transform_masks(np.zeros((2, 0, 40, 60), bool), spec).shape == (2, 0, 20, 20)


def test_matched_pooling_needs_a_source_with_masks(tmp_path) -> None:
    src = SyntheticSource(n_videos=2, num_frames=8, size=32)
    probe = {"n_pairs": 4, "seed": 0, "sampler": "authors", "vis_pooling": "matched"}
    with pytest.raises(DatasetError, match="needs instance masks; dataset 'synthetic' has "
                                           "none. Valid choices: a YouTube-VIS"):
        get_task("vis").sample(src, probe)  # refused when the pairs are drawn
    group = group_pairs(get_task("vis").sample(src, {**probe, "vis_pooling": "mean"}))[0]
    with pytest.raises(DatasetError, match="needs instance masks; dataset 'synthetic'"):
        load_vis_group(src, 0, group, SPEC, probe)
    view = ReadableSubset(SyntheticVISSource(cache_dir=tmp_path, n_videos=2, num_frames=8,
                                             size=32), ["synvis_0001"])
    assert [p.video for p in get_task("vis").sample(view, probe)] == ["synvis_0001"]


def test_an_unreadable_clip_is_a_named_skip(synvis, tmp_path) -> None:
    src = SyntheticVISSource(cache_dir=tmp_path, n_videos=2, num_frames=8, size=32, seed=3)
    (src.root / "JPEGImages" / "synvis_0000" / "00002.jpg").write_bytes(b"\xff\xd8broken")
    probe = {"n_pairs": 4, "seed": 0, "sampler": "authors", "vis_pooling": "matched"}
    group = next(g for g in group_pairs(get_task("vis").sample(src, probe))
                 if g[0].video == "synvis_0000")
    item = load_vis_group(src, 0, group, SPEC, probe)
    assert item.clips == [] and item.masks == []
    assert "synvis_0000/00002.jpg" in item.skip_reason
