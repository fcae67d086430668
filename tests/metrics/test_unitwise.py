"""Known-answer tests for the unit-wise metric (METHOD.md section 4)."""

from __future__ import annotations

import numpy as np
import pytest

from staticdyn.metrics.unitwise import classify_units, unit_scores, unitwise
from tests.helpers.planted import CHANNELS, planted


def test_unit_scores_by_hand() -> None:
    za, zb, factor = planted()
    r_d, r_s, dead = unit_scores(za, zb, factor)
    names = list(CHANNELS)
    expect = {
        "dynamic": (1.0, -1.0), "static": (-1.0, 1.0), "joint": (1.0, 1.0),
        "residual": (-1.0, -1.0), "dead": (0.0, 0.0), "tie": (0.5, -1.0),
    }
    for i, name in enumerate(names):
        assert r_d[i] == pytest.approx(expect[name][0], abs=1e-12), name
        assert r_s[i] == pytest.approx(expect[name][1], abs=1e-12), name
    assert dead.tolist() == [n == "dead" for n in names]
    assert np.isfinite(r_d).all() and np.isfinite(r_s).all()


def test_counts_at_default_lambda_tie_goes_below() -> None:
    za, zb, factor = planted()
    res = unitwise(za, zb, factor, lam=0.5)
    # the tie unit sits exactly at lambda: "below" on both sides -> residual
    assert res.as_dict() == {"dynamic": 1, "static": 1, "joint": 1, "residual": 2, "dead": 1}


def test_counts_at_lower_lambda() -> None:
    za, zb, factor = planted()
    res = unitwise(za, zb, factor, lam=0.4)
    assert res.as_dict() == {"dynamic": 2, "static": 1, "joint": 1, "residual": 1, "dead": 1}


def test_classes_are_exhaustive() -> None:
    rng = np.random.default_rng(0)
    za, zb = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))
    za[:, 3] = zb[:, 3] = 7.0
    factor = np.repeat([0, 1], 20)
    res = unitwise(za, zb, factor)
    assert sum(res.as_dict().values()) == 30
    assert res.dead == 1


def test_zero_variance_in_one_factor_only_is_dead() -> None:
    za, zb, factor = planted()
    za[8:, 0] = zb[8:, 0] = 1.5  # constant over the static pairs only
    r_d, r_s, dead = unit_scores(za, zb, factor)
    assert dead[0] and r_d[0] == 0.0 and r_s[0] == 0.0


def test_classify_explicit() -> None:
    r_d = np.array([0.9, 0.1, 0.9, 0.1, 0.5])
    r_s = np.array([0.1, 0.9, 0.9, 0.1, 0.5])
    cls = classify_units(r_d, r_s, np.zeros(5, bool), lam=0.5)
    assert cls.tolist() == ["dynamic", "static", "joint", "residual", "residual"]


def test_bad_input() -> None:
    za, zb, factor = planted()
    with pytest.raises(ValueError, match="factor labels"):
        unitwise(za, zb, np.full(16, 2))
    with pytest.raises(ValueError, match="NaN"):
        za[0, 0] = np.nan
        unitwise(za, zb, factor)
    with pytest.raises(ValueError, match="same|both"):
        unitwise(za[:, :3], zb, factor)
