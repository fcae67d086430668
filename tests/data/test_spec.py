"""data.spec.ClipSpec: the pathway frame counts every clip builder and the permutations use."""

from __future__ import annotations

import dataclasses

import pytest

from staticdyn.data.spec import ClipSpec


def test_single_pathway() -> None:
    spec = ClipSpec(frames=8)
    assert spec.num_pathways == 1 and spec.pathway_frames == [8]


def test_two_pathways_slow_first_fast_alpha_times_longer() -> None:
    spec = ClipSpec(frames=8, alpha=4)
    assert spec.num_pathways == 2 and spec.pathway_frames == [8, 32]


def test_defaults_are_an_action_clip() -> None:
    spec = ClipSpec()
    assert spec.task == "action" and spec.alpha is None and spec.num_pathways == 1


def test_frozen_and_comparable() -> None:
    spec = ClipSpec(frames=4, crop=32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.frames = 8  # type: ignore[misc]
    assert spec == ClipSpec(frames=4, crop=32) and hash(spec) == hash(ClipSpec(frames=4, crop=32))
    assert spec != dataclasses.replace(spec, crop=48)
