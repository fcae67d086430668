"""Pair sampling (METHOD.md section 1): factors, styles, permutations, determinism."""

from __future__ import annotations

import numpy as np
import pytest

from staticdyn.data.pairs import (
    DYNAMIC,
    STATIC,
    clip_start,
    group_pairs,
    permutations_for,
    sample_pairs,
)
from staticdyn.errors import UnknownChoiceError

VIDEOS = [f"v{i}" for i in range(400)]


@pytest.mark.parametrize("scheme", ["authors", "shared"])
def test_same_seed_same_pairs(scheme: str) -> None:
    a = sample_pairs(VIDEOS, 4, 300, seed=3, scheme=scheme)
    b = sample_pairs(VIDEOS, 4, 300, seed=3, scheme=scheme)
    c = sample_pairs(VIDEOS, 4, 300, seed=4, scheme=scheme)
    assert a == b
    assert a != c
    assert [p.index for p in a] == list(range(300))


def test_authors_scheme_factors_and_styles() -> None:
    pairs = sample_pairs(VIDEOS, 4, 400, seed=0, scheme="authors")
    factors = np.array([p.factor for p in pairs])
    # uniform draw: 400 Bernoulli(0.5) -> well within 5 sigma of 200
    assert abs(factors.sum() - 200) < 5 * 10
    assert len({p.video for p in pairs}) == 400  # one pair per video
    for p in pairs:
        if p.factor == DYNAMIC:
            assert p.style_b != p.style_a
        else:
            assert p.style_b == p.style_a
    assert len(group_pairs(pairs)) == 400  # two forwards per pair
    # style_b of dynamic pairs is uniform over the other three styles
    offs = [(p.style_b - p.style_a) % 4 for p in pairs if p.factor == DYNAMIC]
    assert set(offs) == {1, 2, 3}


def test_shared_scheme_groups_give_one_and_a_half_forwards() -> None:
    pairs = sample_pairs(VIDEOS, 4, 300, seed=0, scheme="shared")
    groups = group_pairs(pairs)
    assert len(groups) == 150
    for g in groups:
        dyn, stat = g
        assert (dyn.factor, stat.factor) == (DYNAMIC, STATIC)
        assert dyn.video == stat.video and dyn.style_a == stat.style_a == stat.style_b
        assert dyn.style_b != dyn.style_a
    clips = sum(1 + len(g) for g in groups)
    assert clips / len(pairs) == 1.5


def test_odd_count_and_small_dataset() -> None:
    pairs = sample_pairs(VIDEOS[:10], 3, 7, seed=0, scheme="shared")
    assert len(pairs) == 7 and pairs[-1].factor == DYNAMIC
    capped = sample_pairs(VIDEOS[:10], 3, 100, seed=0, scheme="authors")
    assert len(capped) == 10


def test_permutations_are_independent_per_pathway_and_deterministic() -> None:
    perms = permutations_for(12345, [8, 32])
    assert sorted(perms[0].tolist()) == list(range(8))
    assert sorted(perms[1].tolist()) == list(range(32))
    again = permutations_for(12345, [8, 32])
    assert all((x == y).all() for x, y in zip(perms, again, strict=True))
    # the slow pathway's permutation is not a function of the fast one's
    other = [permutations_for(s, [8, 32])[0].tolist() for s in range(50)]
    assert len({tuple(o) for o in other}) > 40


def test_clip_start() -> None:
    assert clip_start(1, 100, 64, "first") == 0
    starts = {clip_start(s, 100, 64, "random") for s in range(200)}
    assert min(starts) >= 0 and max(starts) <= 36 and len(starts) > 20
    assert clip_start(1, 30, 64, "random") == 0  # shorter than the window: cycled from 0


def test_bad_arguments() -> None:
    with pytest.raises(UnknownChoiceError, match="authors, shared"):
        sample_pairs(VIDEOS, 4, 10, 0, scheme="bogus")
    with pytest.raises(ValueError, match="2 styles"):
        sample_pairs(VIDEOS, 1, 10, 0)
    with pytest.raises(ValueError, match="n_pairs"):
        sample_pairs(VIDEOS, 4, 0, 0)
