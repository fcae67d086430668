"""ProbeSettings: every probe key accepted in its valid forms and refused, in one line, otherwise.

The valid choices come from the modules that implement them (``pipeline.probe_choices``), so
these tests also fail when a choice list and its check drift apart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from omegaconf import OmegaConf

from staticdyn.config import MIN_PAIRS_PER_FACTOR, ProbeSettings, resolved
from staticdyn.errors import (
    InvalidSettingError,
    MissingSettingError,
    StaticDynError,
    UnknownChoiceError,
)
from staticdyn.metrics.layerwise import ESTIMATORS
from staticdyn.pipeline import DTYPES, probe_choices

CONF = Path(__file__).resolve().parents[1] / "conf"


def _probe(name: str = "action", **over: Any) -> dict[str, Any]:
    node = OmegaConf.load(CONF / "probe" / f"{name}.yaml")
    return {**OmegaConf.to_container(node, resolve=True), **over}


def _settings(name: str = "action", **over: Any) -> ProbeSettings:
    return ProbeSettings.from_cfg(_probe(name, **over), probe_choices())


def test_both_probe_configs_are_accepted_as_written() -> None:
    action = _settings("action")
    assert (action.task, action.sampler, action.n_pairs, action.lam, action.estimator) == (
        "action", "shared", 200, 0.5, "pooled")
    assert (action.amp, action.seeds, action.layers, action.shard, action.num_shards) == (
        None, None, None, 0, 1)
    vos = _settings("vos")
    assert (vos.task, vos.sampler, vos.nreps, vos.jitter) == ("vos", "authors", 5, True)
    assert (vos.h_range, vos.s_range, vos.frame_offset, vos.clip_frames) == (
        [0.1, 0.5], [0.1, 1.0], 10, 1)
    vis = _settings("vis")
    assert (vis.task, vis.sampler, vis.vis_pooling, vis.short_videos) == (
        "vis", "shared", "mean", "stretch")


def test_a_dictconfig_node_is_read_like_a_mapping() -> None:
    cfg = OmegaConf.create({"probe": _probe(n_pairs="12")})
    assert ProbeSettings.from_cfg(cfg.probe, probe_choices()).n_pairs == 12


ACCEPTED = [
    ("task", "vos", "vos"),
    ("sampler", "authors", "authors"),
    ("n_pairs", "8", 8),
    ("n_pairs", 4, 4),
    ("n_pairs", 16.0, 16),
    ("seed", "3", 3),
    ("seed", 0, 0),
    ("lambda", "0.25", 0.25),
    ("lambda", 0.999, 0.999),
    ("estimator", "paper", "paper"),
    ("batch_size", " 16 ", 16),
    ("num_workers", "0", 0),
    ("layers", "stage4", ("stage4",)),
    ("layers", ["stage1", "blocks.3"], ("stage1", "blocks.3")),
    ("layers", None, None),
    ("seeds", ["1", "2", 3], (1, 2, 3)),
    ("seeds", [], None),
    ("seeds", None, None),
    ("clip_start", "random", "random"),
    ("short_videos", "stretch", "stretch"),
    ("device", "cuda:1", "cuda:1"),
    ("dtype", "float64", "float64"),
    ("amp", False, None),
    ("amp", "false", None),
    ("amp", "bf16", "bf16"),
    ("amp", "fp16", "fp16"),
    ("amp", "float16", "fp16"),
    ("amp", True, "bf16"),
    ("threads", "2", 2),
    ("threads", None, None),
    ("progress", "false", False),
    ("list_layers", True, True),
    ("num_shards", "4", 4),
    ("nreps", "2", 2),
    ("jitter", False, False),
    ("h_range", [0, 0.5], [0.0, 0.5]),
    ("s_range", ["0.2", 3], [0.2, 3.0]),
    ("frame_offset", 1, 1),
    ("clip_frames", "2", 2),
    ("vis_pooling", "matched", "matched"),
]


@pytest.mark.parametrize(("key", "given", "expected"), ACCEPTED)
def test_valid_values_are_accepted_and_converted(key: str, given: Any, expected: Any) -> None:
    settings = _settings(**{key: given})
    assert getattr(settings, "lam" if key == "lambda" else key) == expected
    assert settings.task_values[key] == expected  # what the task modules read


REFUSED = [
    ("task", "bogus", "action, vos"),
    ("sampler", "bogus", "authors, shared"),
    ("n_pairs", "abc", "an integer >= 4"),
    ("n_pairs", 3, "at least 2 pairs of each factor"),
    ("n_pairs", "8.5", "an integer >= 4"),
    ("n_pairs", True, "an integer >= 4"),
    ("seed", -1, "an integer >= 0"),
    ("lambda", "abc", "strictly between 0 and 1"),
    ("lambda", 0, "strictly between 0 and 1"),
    ("lambda", 1, "strictly between 0 and 1"),
    ("lambda", 1.5, "strictly between 0 and 1"),
    ("lambda", True, "strictly between 0 and 1"),
    ("lambda", None, "strictly between 0 and 1"),
    ("estimator", "bogus", "pooled, paper"),
    ("batch_size", 0, "an integer >= 1"),
    ("batch_size", "eight", "an integer >= 1"),
    ("num_workers", -1, "an integer >= 0"),
    ("layers", [], "list of layer aliases"),
    ("layers", [1, 2], "list of layer aliases"),
    ("seeds", [1, 1], "distinct integers"),
    ("seeds", [1, "x"], "distinct integers"),
    ("seeds", [-1], "distinct integers"),
    ("seeds", 3, "distinct integers"),
    ("clip_start", "middle", "first, random"),
    ("short_videos", "loop", "cycle, stretch, skip"),
    ("device", "", "cpu, cuda"),
    ("device", 0, "cpu, cuda"),
    ("dtype", "int8", "float32, float64"),
    ("amp", "yes please", "false, bf16 or fp16"),
    ("amp", 1, "false, bf16 or fp16"),
    ("threads", 0, "an integer >= 1"),
    ("progress", "maybe", "true or false"),
    ("list_layers", 2, "true or false"),
    ("shard", -1, "an integer >= 0"),
    ("shard", "first", "an integer >= 0"),
    ("num_shards", 0, "an integer >= 1"),
    ("nreps", 0, "an integer >= 1"),
    ("jitter", "sometimes", "true or false"),
    ("h_range", [0.3, 0.1], "low <= high"),
    ("h_range", [0.1, 0.9], "<= 0.5"),
    ("h_range", "0.1", "low <= high"),
    ("s_range", [-1, 1], "0 <= low"),
    ("s_range", [0.1, 0.2, 0.3], "0 <= low"),
    ("frame_offset", "x", "an integer >= 1"),
    ("clip_frames", 0, "an integer >= 1"),
    ("vis_pooling", "slots", "one of mean, matched"),
]


@pytest.mark.parametrize(("key", "value", "valid"), REFUSED)
def test_invalid_values_are_refused_in_one_line(key: str, value: Any, valid: str) -> None:
    with pytest.raises(InvalidSettingError) as info:
        _settings(**{key: value})
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"invalid probe.{key}={value!r}. Valid: ")
    assert valid in msg


def test_estimator_choices_are_the_metrics_estimators() -> None:
    with pytest.raises(InvalidSettingError, match=", ".join(ESTIMATORS)):
        _settings(estimator="bogus")
    with pytest.raises(InvalidSettingError, match=", ".join(DTYPES)):
        _settings(dtype="int8")


def test_shard_must_be_below_num_shards() -> None:
    assert _settings(shard=1, num_shards=2).shard == 1
    with pytest.raises(InvalidSettingError, match=r"probe\.shard=2\. Valid: 0\.\.1 "
                                                  r"\(probe\.num_shards=2\)"):
        _settings(shard=2, num_shards=2)


def test_n_pairs_minimum_is_two_pairs_per_factor() -> None:
    low = 2 * MIN_PAIRS_PER_FACTOR
    assert _settings(n_pairs=low).n_pairs == low
    with pytest.raises(InvalidSettingError, match="n_pairs"):
        _settings(n_pairs=low - 1)


def test_unknown_key_is_refused_listing_the_valid_keys() -> None:
    with pytest.raises(UnknownChoiceError) as info:
        _settings(n_pair=10)
    msg = str(info.value)
    assert "unknown probe key 'n_pair'" in msg
    for key in ("n_pairs", "lambda", "estimator", "seeds", "clip_start", "nreps"):
        assert key in msg


def test_a_required_key_that_is_absent_is_named() -> None:
    probe = _probe()
    del probe["lambda"]
    with pytest.raises(MissingSettingError, match=r"probe\.lambda is not set\. Valid: a number"):
        ProbeSettings.from_cfg(probe, probe_choices())


def test_optional_keys_take_the_pipeline_defaults() -> None:
    probe = {k: v for k, v in _probe().items()
             if k in ("sampler", "n_pairs", "seed", "lambda", "estimator", "batch_size",
                      "num_workers")}
    s = ProbeSettings.from_cfg(probe, probe_choices())
    assert (s.task, s.device, s.dtype, s.amp, s.shard, s.num_shards, s.progress) == (
        "action", "cpu", "float32", None, 0, 1, True)
    assert "nreps" not in s.task_values  # a task module's own default applies


def test_a_missing_mandatory_probe_value_is_named() -> None:
    cfg = OmegaConf.create({"probe": {**_probe(), "n_pairs": "???"}})
    with pytest.raises(MissingSettingError, match=r"probe\.n_pairs is not set"):
        ProbeSettings.from_cfg(cfg.probe, probe_choices())


def test_for_seed_replaces_the_seed_everywhere() -> None:
    s = _settings(seeds=[1, 2]).for_seed(2)
    assert (s.seed, s.seeds, s.task_values["seed"], s.task_values["seeds"]) == (2, None, 2, None)


def test_resolved_names_a_missing_value_and_what_points_to_it() -> None:
    cfg = OmegaConf.create({"checkpoints": {"fast_r50": "???"},
                            "model": {"checkpoint": "${checkpoints.fast_r50}"},
                            "dataset": {"name": "frames", "root": "???"}})
    with pytest.raises(MissingSettingError) as info:
        resolved(cfg.dataset, "dataset")
    assert str(info.value).startswith("dataset.root is not set")
    with pytest.raises(MissingSettingError) as info:
        resolved(cfg.model, "model")
    assert str(info.value).startswith("checkpoints.fast_r50 is not set")
    assert "model.checkpoint" in str(info.value)
    assert resolved({"a": 1}, "x") == {"a": 1}


def test_every_settings_error_is_a_staticdyn_error() -> None:
    for err in (InvalidSettingError, MissingSettingError, UnknownChoiceError):
        assert issubclass(err, StaticDynError)
