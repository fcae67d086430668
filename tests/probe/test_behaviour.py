"""probe.behaviour: top-1 on the probe's clips, shuffled, and appearance-free (behaviour.csv).

Known answers: the frame-order-invariant model predicts the same class for a clip and its
shuffled version (100% of its accuracy kept, an interval of exactly 0). The motion-trained
model's known answer needs the trained calibration model: tests/train/test_behaviour_calibration.py.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from staticdyn.data.pairs import DYNAMIC, STATIC, group_pairs, sample_pairs
from staticdyn.data.synthetic import SyntheticSource
from staticdyn.data.tasks.action import load_group
from staticdyn.errors import InvalidSettingError
from staticdyn.metrics.behaviour import BEHAVIOUR_COLUMNS
from staticdyn.models.zoo import from_config
from staticdyn.pipeline import run
from staticdyn.probe.behaviour import (
    BehaviourPlan,
    condition_clips,
    measure_behaviour,
    plan_behaviour,
    predict,
)
from tests.helpers.configs import tiny_model

SYNTH = {"_target_": "staticdyn.data.synthetic.SyntheticSource", "name": "synth_motion",
         "n_videos": 16, "num_frames": 16, "size": 48, "num_styles": 4, "seed": 0,
         "classes": "motion"}


def _source(n: int = 30, classes: str | None = "motion", **over) -> SyntheticSource:
    return SyntheticSource(**{"n_videos": n, "num_frames": 8, "size": 32, "seed": 3,
                              "classes": classes, **over})


def _groups(source: SyntheticSource, n_pairs: int, videos: list[str] | None = None):
    return group_pairs(sample_pairs(videos or source.videos, source.num_styles, n_pairs, 0,
                                    "shared"))


def test_every_condition_is_the_probes_own_clip_bit_for_bit() -> None:
    """original = the probe's clip A, shuffled = its static clip B, appearance_free = its
    dynamic clip B under probe.dynamic_pairs=appearance_free (same render, same transform)."""
    # 8 frames picked from a 16-frame window of 20-frame videos: the render follows the motion
    # between the picked frames, not between the window's neighbouring frames
    spec = replace(from_config(tiny_model("toy3d")).clip_spec, sampling_rate=2,
                   n_sample_frames=16)
    source = _source(6, num_frames=20)
    for position, group in enumerate(_groups(source, 12)):
        item = load_group(source, position, group, spec, dynamic_pairs="appearance_free")
        clips = condition_clips(source, group, spec)
        clip_b = {p.factor: item.clips[b] for p, (_, b) in zip(group, item.rows, strict=True)}
        assert torch.equal(clips["original"][0], item.clips[0][0])  # clip A, bit for bit
        assert torch.equal(clips["shuffled"][0], clip_b[STATIC][0])
        assert torch.equal(clips["appearance_free"][0], clip_b[DYNAMIC][0])
        style = load_group(source, position, group, spec)  # the default run's clip A: the same
        assert torch.equal(clips["original"][0], style.clips[0][0])
        assert not torch.equal(clips["appearance_free"][0], clips["original"][0])


def test_a_group_without_a_dynamic_or_static_pair_gets_a_stand_in() -> None:
    """The authors sampler draws one pair per group: the missing condition is made with the
    group's own seed, and the present one is still the probe's clip."""
    spec = from_config(tiny_model("toy3d")).clip_spec
    source = _source(8)
    groups = group_pairs(sample_pairs(source.videos, source.num_styles, 8, 0, "authors"))
    assert {g[0].factor for g in groups} == {DYNAMIC, STATIC}
    for position, group in enumerate(groups):
        (pair,) = group
        item = load_group(source, position, group, spec, dynamic_pairs="appearance_free")
        clips = condition_clips(source, group, spec)
        assert torch.equal(clips["original"][0], item.clips[0][0])
        mine = "shuffled" if pair.factor == STATIC else "appearance_free"
        assert torch.equal(clips[mine][0], item.clips[1][0])
        stand_in = replace(pair, factor=DYNAMIC if pair.factor == STATIC else STATIC)
        other = load_group(source, position, [stand_in], spec, dynamic_pairs="appearance_free")
        theirs = "appearance_free" if mine == "shuffled" else "shuffled"
        assert torch.equal(clips[theirs][0], other.clips[1][0])


def test_frame_order_invariant_model_keeps_all_its_accuracy() -> None:
    torch.manual_seed(0)
    model = from_config(tiny_model("toy_invariant"))
    source = _source(40)
    plan = plan_behaviour(model, source, _groups(source, 80))
    assert isinstance(plan, BehaviourPlan) and plan.num_classes == 10
    clips = [condition_clips(source, g, model.clip_spec) for g in plan.groups]
    device = torch.device("cpu")
    same = predict(model, [c["original"] for c in clips], device, torch.float32) == predict(
        model, [c["shuffled"] for c in clips], device, torch.float32)
    assert same.all()  # every clip: the same class, shuffled or not
    table = measure_behaviour(model, source, plan, batch_size=16, n_boot=200).table
    assert list(table.columns) == BEHAVIOUR_COLUMNS
    row = table.set_index("condition")
    assert row.loc["original", "n_correct"] > 0 and row.loc["original", "n_clips"] == 40
    assert row.loc["shuffled", "n_correct"] == row.loc["original", "n_correct"]
    assert row.loc["shuffled", "relative_drop"] == 0.0
    assert row.loc["shuffled", ["relative_drop_lo", "relative_drop_hi"]].tolist() == [0.0, 0.0]
    assert row.loc["shuffled", "p_value"] == 1.0


def test_no_labels_no_head_or_other_label_space_say_so_in_one_line() -> None:
    model = from_config(tiny_model("toy3d"))
    unlabelled = _source(8, classes=None)
    why = plan_behaviour(model, unlabelled, _groups(unlabelled, 8))
    assert isinstance(why, str) and "no labels" in why and "\n" not in why

    headless = from_config(tiny_model("toy3d"))
    headless.module.blocks[4] = torch.nn.Identity()  # returns the (B, C, T, H, W) maps
    labelled = _source(8)
    why = plan_behaviour(headless, labelled, _groups(labelled, 8))
    assert isinstance(why, str) and "no classification head" in why and "(1, 32" in why

    three = from_config(tiny_model("toy3d", builder_kwargs={"width": 4, "num_classes": 3}))
    why = plan_behaviour(three, labelled, _groups(labelled, 8))
    assert isinstance(why, str) and "outside the 3 classes" in why


def test_unlabelled_videos_are_left_out_and_counted() -> None:
    model = from_config(tiny_model("toy3d"))
    source = _source(10)
    groups = _groups(source, 20)
    source.label = lambda v: None if v.endswith(("1", "3")) else 1  # type: ignore[method-assign]
    plan = plan_behaviour(model, source, groups)
    assert isinstance(plan, BehaviourPlan)
    assert plan.unlabelled == 2 and len(plan.groups) == 8


def test_run_writes_behaviour_csv_and_behaviour_is_not_identity(cfg_factory, capsys) -> None:
    base = ["model=toy3d", "probe.n_pairs=16", "probe.bootstrap=50"]
    first = run(cfg_factory("beh", base, dataset=SYNTH))
    assert "behaviour" not in first["files"]
    assert not (first["run_dir"] / "behaviour.csv").exists()
    # switched on later, the same run resumes its features (behaviour is not identity) and
    # only adds behaviour.csv
    res = run(cfg_factory("beh", [*base, "probe.behaviour=true"], dataset=SYNTH))
    assert res["stats"] is None
    path = res["run_dir"] / "behaviour.csv"
    assert res["files"]["behaviour"] == path
    table = pd.read_csv(path)
    assert list(table.columns) == BEHAVIOUR_COLUMNS
    assert table["condition"].tolist() == ["original", "shuffled", "appearance_free"]
    assert (table["n_clips"] == 8).all() and (table["model"] == "toy3d").all()
    assert (table["dataset"] == "synth_motion").all() and (table["n_boot"] == 50).all()
    assert table["top1"].between(0, 100).all()
    assert "behaviour (top-1 %" in capsys.readouterr().out


def test_run_without_labels_says_so_before_work_and_still_probes(cfg_factory, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="staticdyn"):
        res = run(cfg_factory("nolab", ["model=toy3d", "probe.n_pairs=8",
                                        "probe.behaviour=true", "probe.bootstrap=0"]))
    lines = [r.getMessage() for r in caplog.records if "behaviour" in r.getMessage()]
    assert len(lines) == 1 and "no labels" in lines[0]
    assert not (res["run_dir"] / "behaviour.csv").exists()
    assert (res["run_dir"] / "layerwise.csv").exists()


def test_behaviour_with_shards_is_refused(cfg_factory) -> None:
    with pytest.raises(InvalidSettingError, match="probe.behaviour"):
        run(cfg_factory("shard", ["model=toy3d", "probe.behaviour=true", "probe.num_shards=2"]))
    with pytest.raises(InvalidSettingError, match="probe.behaviour"):
        run(cfg_factory("bad", ["model=toy3d", "probe.behaviour=maybe"]))


def test_terminal_lines_show_intervals_only_when_there_are_some_and_say_why_not() -> None:
    from staticdyn.metrics.behaviour import behaviour_table
    from staticdyn.probe.behaviour import format_behaviour

    hits = {"original": np.arange(10) < 8, "shuffled": np.arange(10) < 2}
    with_ci = format_behaviour(behaviour_table(hits, n_boot=100)).splitlines()
    assert with_ci[2].split()[:3] == ["shuffled", "top-1", "20.0"]
    assert "drop 75.0 [" in with_ci[2]
    without = format_behaviour(behaviour_table(hits, n_boot=0))
    assert "[" not in without and "nan" not in without and "drop 75.0" in without
    zero = format_behaviour(behaviour_table({"original": np.zeros(4, bool),
                                             "shuffled": np.zeros(4, bool)}, n_boot=0))
    assert "drop n/a" in zero and zero.splitlines()[-1].startswith("  not estimable: top-1")
