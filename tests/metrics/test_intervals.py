"""Intervals: percentile bounds of samples, the papers' seed protocol, the interval tables."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from staticdyn.metrics.analyze import RunTables
from staticdyn.metrics.bootstrap import BootstrapResult
from staticdyn.metrics.intervals import (
    INTERVAL_LAYER_STATS,
    attach_intervals,
    interval_table,
    percentile_interval,
    seed_interval,
)


def test_percentile_interval_known_quantiles() -> None:
    samples = np.arange(101.0)  # quantile q of 0..100 is 100 q
    assert percentile_interval(samples) == pytest.approx((2.5, 97.5))
    assert percentile_interval(samples, level=0.5) == pytest.approx((25.0, 75.0))
    lo, hi = percentile_interval(np.full(7, 3.25))
    assert lo == hi == 3.25


def test_seed_interval_is_mean_and_196_std_over_sqrt_n() -> None:
    values = np.array([20.0, 22.0, 24.0, 26.0])
    mean, half = seed_interval(values)
    assert mean == pytest.approx(23.0)
    assert half == pytest.approx(1.96 * np.std(values) / 2.0)
    _, half1 = seed_interval(values, ddof=1)
    assert half1 == pytest.approx(1.96 * np.std(values, ddof=1) / 2.0)
    m2, h2 = seed_interval(np.array([[1.0, 2.0], [3.0, 6.0]]), axis=0)
    np.testing.assert_allclose(m2, [2.0, 4.0])
    np.testing.assert_allclose(h2, 1.96 * np.array([1.0, 2.0]) / math.sqrt(2))


def test_seed_interval_of_one_seed() -> None:
    mean, half = seed_interval([5.0])
    assert (float(mean), float(half)) == (5.0, 0.0)  # ddof 0: no spread
    mean, half = seed_interval([5.0], ddof=1)
    assert float(mean) == 5.0 and np.isnan(half)  # sample std undefined


def _samples() -> dict[str, dict[str, np.ndarray]]:
    base = np.arange(101.0)
    stats = {s: base / 1000.0 + 0.1234567 for s in ("score_dynamic", "score_static")}
    stats.update({s: base + 0.04 for s in ("dynamic_pct", "static_pct", "residual_pct")})
    return {"l1": stats, "l2": {k: v + 1.0 for k, v in stats.items()}}


def test_interval_table_columns_and_rounding() -> None:
    table = interval_table(_samples(), INTERVAL_LAYER_STATS)
    assert list(table.columns) == ["layer"] + [f"{s}_{e}" for s in INTERVAL_LAYER_STATS
                                               for e in ("lo", "hi")]
    assert table["layer"].tolist() == ["l1", "l2"]
    row = table.iloc[0]
    assert row["score_dynamic_lo"] == round(0.0025 + 0.1234567, 6)  # scores: 6 digits
    assert row["dynamic_pct_lo"] == 2.5 and row["dynamic_pct_hi"] == 97.5  # pct: 1 digit
    assert table.iloc[1]["static_pct_hi"] == 98.5


def test_attach_intervals_merges_on_layer_and_records_the_bootstrap() -> None:
    tables = RunTables(
        layerwise=pd.DataFrame({"layer": ["l2", "l1"], "dynamic_pct": [50.0, 40.0]}),
        unitwise=pd.DataFrame({"layer": ["l2", "l1"], "dynamic": [3, 4]}),
        unit_scores=pd.DataFrame(), meta={"model": "m"})
    samples = _samples()
    for per in samples.values():
        per.update({c: np.arange(101.0) for c in ("dynamic", "static", "joint", "residual",
                                                  "dead")})
    boot = BootstrapResult(n_boot=101, lam=0.5, estimator="pooled", seed=7, samples=samples)
    out = attach_intervals(tables, boot)
    assert out.layerwise["layer"].tolist() == ["l2", "l1"]  # the run's order is kept
    assert out.layerwise["dynamic_pct_lo"].tolist() == [3.5, 2.5]
    assert out.unitwise["dead_hi"].tolist() == [97.5, 97.5]
    assert out.meta == {"model": "m", "bootstrap_n": 101, "bootstrap_seed": 7,
                        "bootstrap_level": 0.95}
    assert "dynamic_pct_lo" not in tables.layerwise.columns  # a copy, not in place


# --- coverage and the pairs-needed prediction on planted features ---------------------------

def _full_sample(za: np.ndarray, zb: np.ndarray, f: np.ndarray) -> dict[str, np.ndarray]:
    from staticdyn.metrics.bootstrap import bootstrap_layer

    n0, n1 = int((f == 0).sum()), int((f == 1).sum())
    return bootstrap_layer(za, zb, f, counts=(np.ones((1, n0)), np.ones((1, n1))))


def test_bootstrap_interval_covers_the_planted_value_at_about_the_nominal_rate() -> None:
    """200 independent runs of 1000 pairs from the same planted population: the 95% interval
    of each score should contain the population value (from 400k pairs) about 95% of the time.
    Measured: 0.94 / 0.93 with 300 runs; the bounds are 3 binomial standard errors wide."""
    from staticdyn.metrics.bootstrap import bootstrap_layer
    from tests.helpers.fabricate import default_rhos, planted_features

    rng = np.random.default_rng(0)
    rho_d, rho_s = default_rhos(8, rng)
    truth = _full_sample(*planted_features(400_000, rho_d, rho_s, rng))
    runs, hits = 200, {"score_dynamic": 0, "score_static": 0}
    for r in range(runs):
        za, zb, f = planted_features(1000, rho_d, rho_s, rng)
        samples = bootstrap_layer(za, zb, f, n_boot=200, seed=r)
        for k in hits:
            lo, hi = percentile_interval(samples[k])
            hits[k] += lo <= truth[k][0] <= hi
    for k, h in hits.items():
        assert 0.89 <= h / runs <= 0.99, (k, h / runs)


def test_pairs_needed_formula() -> None:
    from staticdyn.metrics.intervals import pairs_needed

    assert pairs_needed(4.0, 100, 2.0) == 400  # half the width: four times the pairs
    assert pairs_needed(1.0, 100, 2.0) == 25
    assert pairs_needed(0.0, 100, 2.0) == 4  # never under 2 pairs per factor
    assert math.isnan(pairs_needed(float("nan"), 100, 2.0))


def test_pairs_needed_predicts_the_half_width_at_four_times_the_pairs() -> None:
    """A run of N pairs predicts (1/sqrt(N) scaling) the half-width a run of 4N pairs gets.
    Measured (8 repetitions, 64 planted units, generator seeds 3-5): predicted/actual pairs
    0.76-1.32 per repetition (half-widths within about 13%), 0.88-1.02 on average."""
    from staticdyn.metrics.bootstrap import bootstrap_layer
    from staticdyn.metrics.intervals import pairs_needed
    from tests.helpers.fabricate import default_rhos, planted_features

    rng = np.random.default_rng(3)
    rho_d, rho_s = default_rhos(64, rng)
    ratios = []
    for r in range(8):
        half = {}
        for n in (300, 1200):
            samples = bootstrap_layer(*planted_features(n, rho_d, rho_s, rng), n_boot=400,
                                      seed=r)
            half[n] = np.mean([np.subtract(*percentile_interval(samples[k])[::-1]) / 2
                               for k in ("score_dynamic", "score_static")])
        # the pairs the small run says a half-width of half[1200] needs, against 1200
        ratios.append(pairs_needed(half[300], 300, half[1200]) / 1200)
    ratios = np.asarray(ratios)
    assert np.all((ratios > 0.6) & (ratios < 1.6)), ratios
    assert 0.8 <= ratios.mean() <= 1.25, ratios
