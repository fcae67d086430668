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
