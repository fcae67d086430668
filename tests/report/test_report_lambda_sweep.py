"""Unit classes over lambda: same rules as the unit-wise table, monotone where they must be."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from staticdyn.metrics.analyze import analyze_h5
from staticdyn.metrics.lambda_sweep import (
    SWEEP_COLUMNS,
    default_lambdas,
    lambda_sweep,
    lambda_sweep_h5,
    sweep_counts,
)
from staticdyn.metrics.unitwise import classify_units, count_classes, unit_scores
from staticdyn.report.lambda_sweep import write_lambda_sweep
from tests.helpers.fabricate import write_features_h5
from tests.helpers.planted import planted


def test_default_grid() -> None:
    lams = default_lambdas()
    assert lams[0] == 0.1 and lams[-1] == 0.9 and 0.5 in lams and len(lams) == 17


def test_sweep_matches_classify_units_at_every_lambda() -> None:
    r_d, r_s, dead = unit_scores(*planted())
    lams = [0.1, 0.5, 0.75]
    counts = sweep_counts(r_d, r_s, dead, lams)
    for row, lam in zip(counts, lams, strict=True):
        expected = count_classes(classify_units(r_d, r_s, dead, lam)).as_dict()
        assert list(row) == list(expected.values())


def test_table_and_h5_versions_agree_and_are_monotone(tmp_path: Path) -> None:
    h5 = write_features_h5(tmp_path / "features.h5", {"a": 20, "b": 30}, n=100)
    tables = analyze_h5(h5)
    from_table = lambda_sweep(tables.unit_scores)
    from_h5 = lambda_sweep_h5(h5)
    assert list(from_table.columns) == SWEEP_COLUMNS
    np.testing.assert_array_equal(from_table.to_numpy(), from_h5.to_numpy())
    for _, g in from_table.groupby("layer"):
        # A higher threshold never adds joint units and never removes residual ones.
        assert (np.diff(g["joint"].to_numpy()) <= 0).all()
        assert (np.diff(g["residual"].to_numpy()) >= 0).all()
    at_half = from_table[from_table["lambda"] == 0.5].set_index("layer")
    uw = tables.unitwise.set_index("layer")
    for cls in ("dynamic", "static", "joint", "residual", "dead"):
        assert (at_half[cls] == uw[cls]).all()
    written = write_lambda_sweep(tables, tmp_path / "out")
    assert all(p.stat().st_size > 0 for p in written.values())


def test_dead_units_stay_dead_in_the_table_version() -> None:
    import pandas as pd

    r_d, r_s, dead = unit_scores(*planted())
    table = pd.DataFrame({"layer": "x", "unit": range(len(r_d)), "r_dynamic": r_d,
                          "r_static": r_s})
    sweep = lambda_sweep(table, [0.3, 0.6])
    assert (sweep["dead"] == int(dead.sum())).all() and int(dead.sum()) == 1
