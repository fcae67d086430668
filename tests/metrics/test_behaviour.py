"""behaviour_table: top-1, relative drops and paired bootstrap intervals from per-clip hits."""

from __future__ import annotations

import numpy as np
import pytest

from staticdyn.metrics.behaviour import BEHAVIOUR_COLUMNS, behaviour_table, relative_drop


def _hits(n: int, acc: float, rng: np.random.Generator) -> np.ndarray:
    return rng.random(n) < acc


def test_columns_rows_and_known_values() -> None:
    original = np.array([1, 1, 1, 1, 0, 1, 1, 1, 0, 1], bool)  # 80 %
    shuffled = np.array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0], bool)  # 20 %
    table = behaviour_table({"original": original, "shuffled": shuffled,
                             "appearance_free": original.copy()}, n_boot=200, seed=3,
                            num_classes=10, model="m", dataset="d")
    assert list(table.columns) == BEHAVIOUR_COLUMNS
    assert list(table["condition"]) == ["original", "shuffled", "appearance_free"]
    row = table.set_index("condition")
    assert row.loc["original", "top1"] == pytest.approx(80.0)
    assert row.loc["shuffled", "top1"] == pytest.approx(20.0)
    assert row.loc["shuffled", "relative_drop"] == pytest.approx(75.0)
    assert row.loc["original", "relative_drop"] == 0.0
    assert row.loc["appearance_free", "relative_drop"] == 0.0
    assert row.loc["shuffled", "chance_top1"] == pytest.approx(10.0)
    assert (table["n_clips"] == 10).all() and list(table["n_correct"]) == [8, 2, 8]
    lo, hi = row.loc["shuffled", ["relative_drop_lo", "relative_drop_hi"]]
    assert lo <= 75.0 <= hi and hi - lo > 0
    # the same clips in both conditions: paired resamples give an interval of exactly 0 for
    # a condition identical to the original, and p = 1 for "no drop"
    assert row.loc["appearance_free", ["relative_drop_lo", "relative_drop_hi"]].tolist() == [0, 0]
    assert row.loc["appearance_free", "p_value"] == 1.0
    assert row.loc["shuffled", "p_value"] < 0.05
    assert table["estimable"].all()


def test_interval_covers_the_true_drop_at_about_the_nominal_rate() -> None:
    rng = np.random.default_rng(0)
    true_drop = 100.0 * (0.8 - 0.4) / 0.8
    hits = 0
    reps = 60
    for r in range(reps):
        t = behaviour_table({"original": _hits(150, 0.8, rng), "shuffled": _hits(150, 0.4, rng)},
                            n_boot=300, seed=r).set_index("condition")
        hits += t.loc["shuffled", "relative_drop_lo"] <= true_drop <= t.loc[
            "shuffled", "relative_drop_hi"]
    assert 0.85 <= hits / reps <= 1.0


def test_no_bootstrap_leaves_intervals_blank() -> None:
    t = behaviour_table({"original": np.ones(4, bool), "shuffled": np.zeros(4, bool)}, n_boot=0)
    assert t["top1_lo"].isna().all() and t["p_value"].isna().all()
    assert t.set_index("condition").loc["shuffled", "relative_drop"] == 100.0


def test_zero_original_accuracy_is_not_estimable() -> None:
    t = behaviour_table({"original": np.zeros(5, bool), "shuffled": np.ones(5, bool)},
                        n_boot=50)
    assert not t["estimable"].any()
    assert t["relative_drop"].isna().all()
    assert "undefined" in t["note"].iloc[0]
    assert t.set_index("condition").loc["shuffled", "top1"] == 100.0  # top-1 is still a number


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="original"):
        behaviour_table({"shuffled": np.ones(3, bool)})
    with pytest.raises(ValueError, match="same clips"):
        behaviour_table({"original": np.ones(3, bool), "shuffled": np.ones(4, bool)})
    with pytest.raises(ValueError, match="n_boot"):
        behaviour_table({"original": np.ones(3, bool)}, n_boot=-1)


def test_relative_drop_formula() -> None:
    assert relative_drop(50.0, 25.0) == 50.0
    assert relative_drop(50.0, 60.0) == pytest.approx(-20.0)
    assert np.isnan(relative_drop(0.0, 10.0))
