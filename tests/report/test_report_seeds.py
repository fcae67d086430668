"""The one seed summary, in both spellings (``_ci`` of a multi-seed run, ``_lo``/``_hi``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from staticdyn.report.seeds import SWEEP_KEYS, seed_summary

RUN_KEYS = ("model", "dataset", "layer")


def _runs() -> pd.DataFrame:
    """Two layers of one model over seeds 1..3, as ``pipeline.run_seeds`` stacks them."""
    return pd.DataFrame({
        "model": "toy", "dataset": "tiny", "layer": ["s1", "s2"] * 3,
        "seed": [1, 1, 2, 2, 3, 3], "dynamic_pct": [10.0, 40.0, 12.0, 40.0, 14.0, 40.0],
    })


def test_half_width_spelling_of_a_multi_seed_run() -> None:
    out = seed_summary(_runs(), ["dynamic_pct"], keys=RUN_KEYS, index_col=None,
                       half_width=True)
    assert list(out.columns) == ["model", "dataset", "layer", "n_seeds", "dynamic_pct",
                                 "dynamic_pct_ci"]
    assert out["layer"].tolist() == ["s1", "s2"] and out["n_seeds"].tolist() == [3, 3]
    assert out["dynamic_pct"].tolist() == pytest.approx([12.0, 40.0])
    half = 1.96 * np.std([10.0, 12.0, 14.0]) / math.sqrt(3)
    assert out["dynamic_pct_ci"].tolist() == pytest.approx([half, 0.0])


def test_bounds_spelling_is_mean_minus_plus_the_same_half_width() -> None:
    df = _runs()
    ci = seed_summary(df, ["dynamic_pct"], keys=RUN_KEYS, index_col=None, half_width=True)
    lohi = seed_summary(df, ["dynamic_pct"], keys=RUN_KEYS, index_col=None)
    np.testing.assert_allclose(lohi["dynamic_pct_lo"], ci["dynamic_pct"] - ci["dynamic_pct_ci"])
    np.testing.assert_allclose(lohi["dynamic_pct_hi"], ci["dynamic_pct"] + ci["dynamic_pct_ci"])


def test_one_seed_keeps_its_bootstrap_interval_or_has_none() -> None:
    df = _runs().query("seed == 1").assign(layer_index=[0, 1])
    df = pd.concat([df.assign(model="a"), df.assign(model="b", dynamic_pct_lo=[8.0, 30.0],
                                                    dynamic_pct_hi=[11.0, 50.0])])
    keys = ["model", "layer"]
    out = seed_summary(df, ["dynamic_pct"], keys=keys)
    assert list(out.columns[:4]) == ["model", "layer", "layer_index", "n_seeds"]
    a, b = out[out["model"] == "a"], out[out["model"] == "b"]
    assert a["dynamic_pct_lo"].isna().all() and a["dynamic_pct_hi"].isna().all()
    assert b["dynamic_pct_lo"].tolist() == [8.0, 30.0] and b["dynamic_pct_hi"].tolist() == [
        11.0, 50.0]
    # the half-width spelling has no such fallback: one seed, no spread
    ci = seed_summary(df, ["dynamic_pct"], keys=keys, half_width=True)
    assert (ci["dynamic_pct_ci"] == 0.0).all()


def test_layer_index_is_the_smallest_and_empty_input_has_the_columns() -> None:
    df = _runs().assign(layer_index=[3, 1, 2, 1, 5, 1])
    out = seed_summary(df, ["dynamic_pct"], keys=RUN_KEYS)
    assert out["layer_index"].tolist() == [2, 1]
    empty = seed_summary(df.iloc[:0], ["dynamic_pct"])
    assert empty.empty and list(empty.columns) == [*SWEEP_KEYS, "layer_index", "n_seeds",
                                                   "dynamic_pct"]


def test_papers_seed_numbers_have_their_own_columns_after_the_others() -> None:
    df = _runs()
    out = seed_summary(df, ["dynamic_pct"], keys=RUN_KEYS, index_col=None)
    assert list(out.columns)[-2:] == ["dynamic_pct_seed_mean", "dynamic_pct_seed_ci95"]
    half = 1.96 * np.std([10.0, 12.0, 14.0]) / math.sqrt(3)
    assert out["dynamic_pct_seed_ci95"].tolist() == pytest.approx([half, 0.0])
    assert out["dynamic_pct_seed_mean"].tolist() == pytest.approx([12.0, 40.0])
    one = seed_summary(df[df["seed"] == 1], ["dynamic_pct"], keys=RUN_KEYS, index_col=None)
    assert one["dynamic_pct_seed_ci95"].isna().all()  # one seed: no seed spread, not 0
