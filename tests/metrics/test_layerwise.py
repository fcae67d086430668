"""Known-answer tests for the layer-wise metric (METHOD.md section 3)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from staticdyn.metrics.layerwise import (
    layer_scores,
    layerwise,
    softmax_with_identical,
    total_variance,
    units_from_scores,
)
from tests.helpers.planted import planted


def test_total_variance_by_hand() -> None:
    za, zb, _ = planted()
    # five channels of +-1 around 0 (variance 1 each) and one constant channel
    assert total_variance(za, zb) == pytest.approx(5.0)


def test_pooled_scores_by_hand() -> None:
    za, zb, factor = planted()
    s_d, s_s = layer_scores(za, zb, factor, "pooled")
    # sum_c C_dynamic = 1 - 1 + 1 - 1 + 0 + 0.5 = 0.5 ; sum_c C_static = -1 + 1 + 1 - 1 + 0 - 1 = -1
    assert s_d == pytest.approx(0.5 / 5.0)
    assert s_s == pytest.approx(-1.0 / 5.0)


def test_units_by_hand() -> None:
    za, zb, factor = planted()
    res = layerwise(za, zb, factor)
    z = math.exp(0.1) + math.exp(-0.2) + math.exp(1.0)
    p_d, p_s = math.exp(0.1) / z, math.exp(-0.2) / z  # 0.238, 0.176
    assert res.dynamic_units == int(p_d * 6) == 1
    assert res.static_units == int(p_s * 6) == 1
    assert res.residual_units == 4
    assert (res.dynamic_pct, res.static_pct, res.residual_pct) == (16.7, 16.7, 66.7)
    assert (res.pairs_dynamic, res.pairs_static, res.units) == (8, 8, 6)


def test_paper_estimator_is_scale_free_pooled_is_not() -> None:
    za, zb, factor = planted()
    base = layer_scores(za, zb, factor, "paper")
    # paper: mean of per-channel Pearson r over the 5 live channels
    assert base == pytest.approx(((1 - 1 + 1 - 1 + 0.5) / 5, (-1 + 1 + 1 - 1 - 1) / 5))
    za2, zb2 = za.copy(), zb.copy()
    za2[:, 2] *= 10  # the joint channel dominates the pooled sums once scaled up
    zb2[:, 2] *= 10
    assert layer_scores(za2, zb2, factor, "paper") == pytest.approx(base)
    s_d, s_s = layer_scores(za2, zb2, factor, "pooled")
    assert s_d == pytest.approx((0.5 - 1 + 100) / (4 + 100))
    assert s_s == pytest.approx((-1 - 1 + 100) / (4 + 100))


def test_identical_pairs_score_one() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(20, 16)) * rng.uniform(0.1, 5, size=16) + rng.normal(size=16)
    za = np.concatenate([z, z])
    factor = np.repeat([0, 1], 20)
    for est in ("pooled", "paper"):
        s_d, s_s = layer_scores(za, za.copy(), factor, est)
        assert s_d == pytest.approx(1.0) and s_s == pytest.approx(1.0), est


def test_reference_consistency_from_method() -> None:
    # METHOD.md section 6: s_dynamic ~0.37, s_static ~0.95 <-> 21.4 / 38.4 / 40.2 percent
    p = softmax_with_identical(0.37, 0.95)
    assert 100 * p == pytest.approx([21.4, 38.4, 40.2], abs=0.15)
    d, s, r = units_from_scores(0.37, 0.95, 2048)
    assert (d, s, r) == (int(p[0] * 2048), int(p[1] * 2048), 2048 - d - s)


def test_softmax_stable_for_large_scores() -> None:
    p = softmax_with_identical(1000.0, -1000.0)
    assert np.isfinite(p).all() and p[0] == pytest.approx(1.0)


def test_dead_layer_gives_zero_scores_not_nan() -> None:
    za = np.ones((10, 4))
    res = layerwise(za, za.copy(), np.repeat([0, 1], 5))
    assert (res.score_dynamic, res.score_static) == (0.0, 0.0)
    assert res.residual_units + res.dynamic_units + res.static_units == 4


def test_unknown_estimator() -> None:
    za, zb, factor = planted()
    with pytest.raises(ValueError, match="pooled, paper"):
        layer_scores(za, zb, factor, "bogus")
