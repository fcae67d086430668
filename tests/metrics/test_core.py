"""Known answers for each formula of the metrics core (staticdyn.metrics.core), once each."""

from __future__ import annotations

import math

import numpy as np
import pytest

from staticdyn.metrics.core import (
    DEAD_RTOL,
    UNIT_CLASSES,
    FactorMeans,
    FactorStats,
    LayerStats,
    Moments,
    check_estimator,
    class_counts,
    class_masks,
    finite_mean,
    is_dead,
    layer_result,
    layer_scores,
    moment_stats,
    pct,
    pooled_score,
    row_stats,
    softmax_with_identical,
    unit_counts,
    unit_ratios,
    unit_result,
)
from tests.helpers.planted import CHANNELS, planted

NAMES = list(CHANNELS)  # dynamic, static, joint, residual, dead, tie


def _stats(cross, var, mean_sq=None, corr=None, weight=8) -> FactorStats:  # noqa: ANN001
    cross, var = np.asarray(cross, float), np.asarray(var, float)
    mean_sq = var + 1.0 if mean_sq is None else np.asarray(mean_sq, float)
    corr = np.full_like(cross, np.nan) if corr is None else np.asarray(corr, float)
    return FactorStats(weight, cross, var, mean_sq, corr)


def test_check_estimator_names_the_choices() -> None:
    assert check_estimator("paper") == "paper"
    with pytest.raises(ValueError, match=r"estimator 'median'\. Valid choices: pooled, paper"):
        check_estimator("median")


def test_dead_test_is_relative_to_the_mean_square() -> None:
    var = np.array([1.0, 0.0, 0.5e-10 * 9.0, 2e-10 * 9.0, 0.0])
    mean_sq = np.array([1.0, 9.0, 9.0, 9.0, 0.0])
    assert is_dead(var, mean_sq).tolist() == [False, True, True, False, True]
    assert DEAD_RTOL == 1e-10


def test_row_stats_of_planted_channels() -> None:
    st = row_stats(*planted())
    # pair mean 0, variance 1 on every live channel; the dead one is the constant 3
    np.testing.assert_allclose(st.dynamic.cross, [1, -1, 1, -1, 0, 0.5], atol=1e-12)
    np.testing.assert_allclose(st.static.cross, [-1, 1, 1, -1, 0, -1], atol=1e-12)
    np.testing.assert_allclose(st.dynamic.var, [1, 1, 1, 1, 0, 1], atol=1e-12)
    np.testing.assert_allclose(st.dynamic.mean_sq, [1, 1, 1, 1, 9, 1], atol=1e-12)
    assert st.dynamic.weight == st.static.weight == 8
    assert st.total_var == pytest.approx(5.0)
    assert st.dynamic.dead.tolist() == [n == "dead" for n in NAMES]
    # Pearson r with each member's own mean; the constant channel has none
    np.testing.assert_allclose(st.dynamic.corr[[0, 1, 2, 3, 5]], [1, -1, 1, -1, 0.5])
    assert np.isnan(st.dynamic.corr[4])
    assert row_stats(*planted(), with_total_var=False).total_var is None


def test_moment_stats_of_planted_equal_the_row_stats() -> None:
    za, zb, factor = planted()
    means = [Moments.of(za[factor == k], zb[factor == k]).means() for k in (0, 1)]
    st, rows = moment_stats(*means), row_stats(za, zb, factor)
    for got, want in zip(st.factors, rows.factors, strict=True):
        np.testing.assert_array_equal(got.cross, want.cross)
        np.testing.assert_array_equal(got.var, want.var)
        np.testing.assert_array_equal(got.dead, want.dead)
        np.testing.assert_allclose(got.corr, want.corr)
        assert int(got.weight) == want.weight
    assert float(st.total_var) == 5.0


def test_moment_stats_do_not_depend_on_the_centre_except_the_dead_test() -> None:
    """Means taken around a per-channel centre give the same central statistics."""
    rng = np.random.default_rng(0)
    za, zb = rng.normal(size=(50, 4)) + 7.0, rng.normal(size=(50, 4)) + 7.0
    center = np.array([7.0, 7.5, 6.0, 0.0])
    raw = [Moments.of(za[:20], zb[:20]).means(), Moments.of(za[20:], zb[20:]).means()]
    moved = [Moments.of(za[:20] - center, zb[:20] - center).means(),
             Moments.of(za[20:] - center, zb[20:] - center).means()]
    a, b = moment_stats(*raw), moment_stats(*moved, center=center)
    for fa, fb in zip(a.factors, b.factors, strict=True):
        np.testing.assert_allclose(fa.cross, fb.cross, atol=1e-10)
        np.testing.assert_allclose(fa.var, fb.var, atol=1e-10)
        np.testing.assert_allclose(fa.mean_sq, fb.mean_sq, rtol=1e-12)  # the centre added back
        np.testing.assert_allclose(fa.corr, fb.corr, atol=1e-10)
    assert float(a.total_var) == pytest.approx(float(b.total_var), rel=1e-10)


def test_weights_are_repeated_rows() -> None:
    """Weighted sums (what a bootstrap resample is) give the statistics of repeated rows."""
    rng = np.random.default_rng(1)
    za, zb = rng.normal(size=(6, 3)), rng.normal(size=(6, 3))
    w = np.array([2.0, 0.0, 1.0, 3.0, 1.0, 1.0])
    weighted = Moments(w.sum(), w @ za, w @ zb, w @ (za * za), w @ (zb * zb), w @ (za * zb))
    reps = w.astype(int)
    repeated = Moments.of(np.repeat(za, reps, axis=0), np.repeat(zb, reps, axis=0))
    narrow = FactorMeans.of_sums(np.array([w.sum()]), w @ (za + zb), w @ (za * za + zb * zb),
                                 w @ (za * zb))
    st_w = moment_stats(weighted.means(), weighted.means())
    st_r = moment_stats(repeated.means(), repeated.means())
    st_n = moment_stats(narrow, narrow)
    for got in (st_w, st_n):
        np.testing.assert_allclose(got.dynamic.cross, st_r.dynamic.cross, atol=1e-12)
        np.testing.assert_allclose(got.dynamic.var, st_r.dynamic.var, atol=1e-12)
    np.testing.assert_allclose(st_w.dynamic.corr, st_r.dynamic.corr, atol=1e-12)
    assert np.isnan(st_n.dynamic.corr).all()  # the narrow layout carries no member moments


def test_a_factor_without_pairs_is_all_dead_and_scores_zero() -> None:
    empty = Moments(0, *(np.zeros(3) for _ in range(5))).means()
    full = Moments.of(np.eye(3), np.eye(3)).means()
    st = moment_stats(full, empty)
    assert st.static.dead.all() and np.isnan(st.static.corr).all()
    assert float(pooled_score(st.static, st.total_var)) == 0.0


def test_unit_ratios_zero_where_dead() -> None:
    dyn = _stats([0.5, 2.0, 3.0], [1.0, 4.0, 0.0])
    stat = _stats([-0.5, 1.0, 0.0], [0.5, 0.0, 0.0], mean_sq=[1.0, 1.0, 1.0])
    r_d, r_s, dead = unit_ratios(LayerStats(dyn, stat, None))
    assert dead.tolist() == [False, True, True]  # dead in either factor is dead
    assert r_d.tolist() == [0.5, 0.0, 0.0] and r_s.tolist() == [-1.0, 0.0, 0.0]


def test_class_rule_table() -> None:
    r_d = np.array([0.9, 0.1, 0.9, 0.1, 0.5, 0.9])
    r_s = np.array([0.1, 0.9, 0.9, 0.1, 0.5, 0.9])
    dead = np.array([False, False, False, False, False, True])
    masks = class_masks(r_d, r_s, dead, 0.5)
    assert list(masks) == list(UNIT_CLASSES)
    got = [next(k for k, m in masks.items() if m[i]) for i in range(6)]
    assert got == ["dynamic", "static", "joint", "residual", "residual", "dead"]  # tie: below
    assert sum(m.astype(int) for m in masks.values()).tolist() == [1] * 6  # exactly one class


def test_class_counts_broadcast_over_lambdas() -> None:
    r_d = np.array([0.2, 0.6, 0.8])
    r_s = np.array([0.7, 0.6, 0.1])  # joint / joint / dynamic at lambda 0.1
    counts = class_counts(r_d, r_s, np.zeros(3, bool), np.array([[0.1], [0.5], [0.9]]))
    assert counts["joint"].tolist() == [2, 1, 0]
    assert counts["dynamic"].tolist() == [1, 1, 0]  # 0.8 vs 0.1 at lambda 0.1: tie is below
    assert counts["static"].tolist() == [0, 1, 0]
    assert counts["residual"].tolist() == [0, 0, 3]
    assert counts["dead"].tolist() == [0, 0, 0]


def test_finite_mean_single_and_batched() -> None:
    assert finite_mean(np.array([1.0, np.nan, 3.0])) == 2.0
    assert finite_mean(np.array([np.nan, np.inf])) == 0.0
    batch = np.array([[1.0, np.nan, 3.0], [np.nan, np.nan, np.nan], [0.5, 0.5, 2.0]])
    assert finite_mean(batch).tolist() == [2.0, 0.0, 1.0]
    # both summation orders agree exactly when every entry is finite
    rng = np.random.default_rng(2)
    x = rng.normal(size=(4, 37))
    assert finite_mean(x).tolist() == [finite_mean(row) for row in x]


def test_pooled_score_cases() -> None:
    st = _stats([0.5, 0.25, 0.25], [1.0, 1.0, 1.0])
    assert float(pooled_score(st, 2.0)) == 0.5
    assert float(pooled_score(st, 0.0)) == 0.0  # a layer without variance
    assert float(pooled_score(_stats([0.5], [1.0], weight=0), 2.0)) == 0.0  # no pairs
    batch = FactorStats(np.array([4.0, 0.0]), np.array([[1.0, 1.0], [1.0, 1.0]]),
                        np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))
    assert pooled_score(batch, np.array([4.0, 4.0])).tolist() == [0.5, 0.0]


def test_layer_scores_by_estimator() -> None:
    dyn = _stats([1.0, 0.0], [1.0, 1.0], corr=[1.0, np.nan])
    stat = _stats([0.5, 0.5], [1.0, 1.0], corr=[0.2, 0.4])
    st = LayerStats(dyn, stat, 2.0)
    assert layer_scores(st, "pooled").tolist() == [0.5, 0.5]
    np.testing.assert_allclose(layer_scores(st, "paper"), [1.0, 0.3])
    with pytest.raises(ValueError, match="total variance"):
        layer_scores(LayerStats(dyn, stat, None), "pooled")
    with pytest.raises(ValueError, match="Valid choices"):
        layer_scores(st, "bogus")


def test_softmax_with_identical_known_values() -> None:
    z = 2.0 + math.e
    np.testing.assert_allclose(softmax_with_identical(0.0, 0.0), [1 / z, 1 / z, math.e / z])
    batch = softmax_with_identical(np.array([0.0, 0.37]), np.array([0.0, 0.95]))
    assert batch.shape == (2, 3)
    np.testing.assert_array_equal(batch[1], softmax_with_identical(0.37, 0.95))
    assert np.isfinite(softmax_with_identical(1000.0, -1000.0)).all()


def test_unit_counts_truncate_and_residual_takes_the_rest() -> None:
    # p = (0.2119, 0.2119, 0.5761): 21.19 -> 21 units each, residual 58
    assert unit_counts(0.0, 0.0, 100).tolist() == [21.0, 21.0, 58.0]
    assert unit_counts(np.array([0.0, 0.0]), np.array([0.0, 5.0]), 10).tolist() == [
        [2.0, 2.0, 6.0], [0.0, 9.0, 1.0]]


def test_pct() -> None:
    assert pct(1, 6) == 100.0 / 6
    assert round(pct(1, 6), 1) == 16.7
    assert pct(0, 0) == 0.0
    assert pct(np.array([1.0, 3.0]), 4).tolist() == [25.0, 75.0]


def test_results_of_planted_layer() -> None:
    st = row_stats(*planted())
    lw = layer_result(st)
    assert (lw.units, lw.pairs_dynamic, lw.pairs_static) == (6, 8, 8)
    assert (lw.score_dynamic, lw.score_static) == pytest.approx((0.1, -0.2))
    assert (lw.dynamic_units, lw.static_units, lw.residual_units) == (1, 1, 4)
    assert (lw.dynamic_pct, lw.static_pct, lw.residual_pct) == (16.7, 16.7, 66.7)
    assert unit_result(st, 0.5).as_dict() == {"dynamic": 1, "static": 1, "joint": 1,
                                              "residual": 2, "dead": 1}
