"""Bootstrap intervals: exactness of the moment formulation and coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from staticdyn.metrics.bootstrap import (
    bootstrap_layer,
    draw_counts,
    prepare_layer,
    resample_counts,
    stats_from_weights,
)
from staticdyn.metrics.core import split_by_factor
from staticdyn.metrics.intervals import percentile_interval
from staticdyn.metrics.layerwise import layerwise
from staticdyn.metrics.unitwise import UNIT_CLASSES, unitwise
from tests.helpers.fabricate import planted_features
from tests.helpers.planted import planted

CLASSES = list(UNIT_CLASSES)


def _random_layer(seed: int = 0, n: int = 120, c: int = 24, offset: float = 0.0):
    rng = np.random.default_rng(seed)
    rho_d = rng.uniform(-0.2, 0.95, c)
    rho_s = rng.uniform(-0.2, 0.95, c)
    za, zb, factor = planted_features(n, rho_d, rho_s, rng, offset=offset)
    za[:, 0] = zb[:, 0] = 2.5  # one dead channel
    return za, zb, factor


def _ones(prep):
    return np.ones((1, prep.n_pairs[0])), np.ones((1, prep.n_pairs[1]))


def _assert_matches_direct(stats: dict[str, np.ndarray], row: int, za, zb, factor, est: str):
    lw = layerwise(za, zb, factor, estimator=est)
    uw = unitwise(za, zb, factor, 0.5)
    assert stats["score_dynamic"][row] == pytest.approx(lw.score_dynamic, abs=1e-12)
    assert stats["score_static"][row] == pytest.approx(lw.score_static, abs=1e-12)
    assert int(stats["dynamic_units"][row]) == lw.dynamic_units
    assert int(stats["static_units"][row]) == lw.static_units
    assert int(stats["residual_units"][row]) == lw.residual_units
    for f in ("dynamic", "static", "residual"):
        assert round(float(stats[f"{f}_pct"][row]), 1) == getattr(lw, f"{f}_pct")
    assert {k: int(stats[k][row]) for k in CLASSES} == uw.as_dict()


@pytest.mark.parametrize("estimator", ["pooled", "paper"])
@pytest.mark.parametrize("case", ["planted", "random", "offset"])
def test_all_ones_weights_equal_point_estimate(estimator: str, case: str) -> None:
    if case == "planted":
        za, zb, factor = planted()
    else:
        za, zb, factor = _random_layer(offset=1e4 if case == "offset" else 0.0)
    prep = prepare_layer(za, zb, factor, estimator)
    stats = stats_from_weights(prep, _ones(prep), 0.5, estimator)
    _assert_matches_direct(stats, 0, za, zb, factor, estimator)


@pytest.mark.parametrize("estimator", ["pooled", "paper"])
def test_one_resample_both_ways(estimator: str) -> None:
    """Weighted moments of centred features == the metrics on the explicitly resampled rows.

    This is the check of the shift-invariance claim: the weighted path centres the features, the
    direct path does not, and the features carry a large per-channel offset.
    """
    za, zb, factor = _random_layer(seed=3, offset=300.0)
    counts = draw_counts(factor, 5, seed=11)
    prep = prepare_layer(za, zb, factor, estimator)
    stats = stats_from_weights(prep, counts, 0.5, estimator)
    parts = split_by_factor(za, zb, factor)
    for row in range(5):
        rows_a, rows_b, fac = [], [], []
        for k, name in enumerate(("dynamic", "static")):
            reps = counts[k][row].astype(int)
            rows_a.append(np.repeat(parts[name][0], reps, axis=0))
            rows_b.append(np.repeat(parts[name][1], reps, axis=0))
            fac.append(np.full(reps.sum(), k))
        _assert_matches_direct(stats, row, np.concatenate(rows_a), np.concatenate(rows_b),
                               np.concatenate(fac), estimator)


def test_metrics_are_shift_invariant_per_channel() -> None:
    """The formulas behind the centring: adding a per-channel constant changes no score."""
    za, zb, factor = _random_layer(seed=5)
    shift = np.linspace(-50.0, 80.0, za.shape[1])
    base = layerwise(za, zb, factor)
    moved = layerwise(za.astype(np.float64) + shift, zb.astype(np.float64) + shift, factor)
    assert moved.score_dynamic == pytest.approx(base.score_dynamic, abs=1e-9)
    assert moved.score_static == pytest.approx(base.score_static, abs=1e-9)
    assert unitwise(za.astype(np.float64) + shift, zb.astype(np.float64) + shift, factor) == (
        unitwise(za, zb, factor))


def test_resample_counts_are_stratified_and_sum_to_n() -> None:
    factor = np.array([0] * 7 + [1] * 3)
    c_dyn, c_stat = draw_counts(factor, 50, seed=0)
    assert c_dyn.shape == (50, 7) and c_stat.shape == (50, 3)
    assert (c_dyn.sum(axis=1) == 7).all() and (c_stat.sum(axis=1) == 3).all()
    assert resample_counts(0, 4, np.random.default_rng(0)).shape == (4, 0)


def test_samples_do_not_depend_on_chunk_and_are_seeded() -> None:
    za, zb, factor = _random_layer(seed=7)
    a = bootstrap_layer(za, zb, factor, n_boot=37, seed=4, chunk=5)
    b = bootstrap_layer(za, zb, factor, n_boot=37, seed=4, chunk=100)
    c = bootstrap_layer(za, zb, factor, n_boot=37, seed=5)
    for k in a:
        np.testing.assert_allclose(a[k], b[k], rtol=0, atol=1e-12)
    assert not np.array_equal(a["score_dynamic"], c["score_dynamic"])
    assert (a["dynamic"] + a["static"] + a["joint"] + a["residual"] + a["dead"] == 24).all()


def test_intervals_cover_planted_truth_at_nominal_rate() -> None:
    """150 small problems, two scores each: the 95% intervals hold the truth ~95% of the time.

    Truth (pooled estimator): every channel is standard normal, so V = C and the score is the
    mean planted correlation. Tolerance: 3.5 binomial standard deviations over 300 trials.
    """
    rng = np.random.default_rng(2024)
    rho_d = np.array([0.8, 0.2, 0.5, 0.6])
    rho_s = np.array([0.1, 0.7, 0.5, 0.3])
    truth = {"score_dynamic": rho_d.mean(), "score_static": rho_s.mean()}
    hits, trials = 0, 0
    for rep in range(150):
        za, zb, factor = planted_features(200, rho_d, rho_s, rng)
        samples = bootstrap_layer(za, zb, factor, n_boot=300, seed=rep)
        for stat, value in truth.items():
            lo, hi = percentile_interval(samples[stat])
            hits += lo <= value <= hi
            trials += 1
    rate = hits / trials
    sd = math.sqrt(0.95 * 0.05 / trials)
    assert 0.95 - 3.5 * sd <= rate <= 0.95 + 3.5 * sd, rate


def test_paper_estimator_needs_separate_moments() -> None:
    za, zb, factor = planted()
    prep = prepare_layer(za, zb, factor, "pooled")
    with pytest.raises(ValueError, match="paper"):
        stats_from_weights(prep, _ones(prep), 0.5, "paper")
    with pytest.raises(ValueError, match="Valid choices"):
        prepare_layer(za, zb, factor, "nope")
