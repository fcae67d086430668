"""Sweep behaviour report: last-stage dynamic % against the shuffled-frame drop, with Spearman's
rank correlation and its bootstrap interval."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from staticdyn.experiments.figures import main as figures_main
from staticdyn.metrics.behaviour import behaviour_table
from staticdyn.report.aggregate import collect_runs
from staticdyn.report.behaviour import (
    CORRELATION_COLUMNS,
    SWEEP_COLUMNS,
    collect_behaviour,
    spearman_interval,
    write_behaviour_report,
)
from tests.helpers.fabricate import make_run

STAGES = {"stage1": 8, "stage4": 24}


def test_spearman_known_answers() -> None:
    x = [1.0, 2.0, 3.0, 4.0, 5.0]
    up = spearman_interval(x, [10, 20, 25, 40, 41], n_boot=300)
    assert [up.rho, up.lo, up.hi] == pytest.approx([1.0, 1.0, 1.0]) and up.n == 5
    down = spearman_interval(x, [5, 4, 3, 2, 1], n_boot=300)
    assert [down.rho, down.hi] == pytest.approx([-1.0, -1.0])
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal(12), rng.standard_normal(12)
    noisy = spearman_interval(a, b, n_boot=500, seed=1)
    assert noisy.rho == pytest.approx(spearmanr(a, b).statistic)
    assert noisy.lo < noisy.rho < noisy.hi and noisy.lo < 0 < noisy.hi
    assert np.isnan(spearman_interval([1, 2], [3, 4]).rho)  # two points: always +-1
    assert "need >= 3" in spearman_interval([1, 2], [3, 4]).note
    assert np.isnan(spearman_interval([1, 2, 3], [7, 7, 7]).rho)
    assert "rho = 1.00 [1.00, 1.00]" in up.text()


def _sweep(root: Path, n_runs: int = 4, behaviour: int | None = None) -> pd.DataFrame:
    """Runs whose last-stage dynamic % is 10, 20, ... (written into their layerwise.csv) and
    whose shuffled drop rises with it; ``behaviour`` of them (default all) get a behaviour.csv.
    """
    n = 40
    for k, model in enumerate(["slow_r50", "x3d_xs", "c2d_r50", "i3d_r50", "r3d_18"][:n_runs]):
        run_dir = make_run(root / model, STAGES, model, "synthetic", seed=k)
        lw = pd.read_csv(run_dir / "layerwise.csv")
        for col, shift in (("dynamic_pct", 0.0), ("dynamic_pct_lo", -3.0),
                           ("dynamic_pct_hi", 3.0)):  # a table with intervals is kept as is
            lw[col] = lw["dynamic_pct"] + shift
            lw.loc[lw["layer"] == "stage4", col] = 10.0 * (k + 1) + shift
        lw.to_csv(run_dir / "layerwise.csv", index=False)
        if k >= (behaviour if behaviour is not None else n_runs):
            continue
        original = np.arange(n) < 30  # 75 %
        shuffled = np.arange(n) < 30 - 6 * (k + 1)  # the more dynamic, the more it loses
        behaviour_table({"original": original, "shuffled": shuffled,
                         "appearance_free": np.arange(n) < 20}, n_boot=100, num_classes=10,
                        model=model).to_csv(run_dir / "behaviour.csv", index=False)
    return collect_runs(root).layerwise


def test_collect_and_write_behaviour_report(tmp_path: Path) -> None:
    lw = _sweep(tmp_path / "sweep")
    df = collect_behaviour(lw)
    assert list(df.columns) == SWEEP_COLUMNS and len(df) == 4
    assert (df["layer"] == "stage4").all() and (df["top1_original"] == 75.0).all()
    assert sorted(df["dynamic_pct_lo"]) == [7.0, 17.0, 27.0, 37.0]
    written = write_behaviour_report(lw, tmp_path / "out", formats=("png",), n_boot=200)
    assert {"behaviour_all.csv", "behaviour_all.md", "behaviour_correlation.csv",
            "behaviour_vs_dynamic.png"} <= set(written)
    corr = pd.read_csv(written["behaviour_correlation.csv"])
    assert list(corr.columns) == CORRELATION_COLUMNS
    assert corr["spearman_rho"].iloc[0] == pytest.approx(1.0) and corr["n_runs"].iloc[0] == 4
    assert "Spearman rho = 1.00" in written["behaviour_all.md"].read_text()


def test_runs_without_behaviour_are_left_out_or_skipped(tmp_path: Path) -> None:
    lw = _sweep(tmp_path / "sweep", n_runs=3, behaviour=2)
    assert len(collect_behaviour(lw)) == 2
    written = write_behaviour_report(lw, tmp_path / "out", formats=("png",), n_boot=50)
    corr = pd.read_csv(written["behaviour_correlation.csv"])
    assert np.isnan(corr["spearman_rho"].iloc[0]) and "need >= 3" in corr["note"].iloc[0]
    bare = tmp_path / "bare"
    make_run(bare / "a", STAGES, "slow_r50", "synthetic")
    assert write_behaviour_report(collect_runs(bare).layerwise, tmp_path / "none") == {}


def test_figures_cli_draws_the_behaviour_figure(tmp_path: Path) -> None:
    _sweep(tmp_path / "sweep")
    out = tmp_path / "report"
    code = figures_main([str(tmp_path / "sweep"), "--out", str(out), "--only", "fig3_left",
                         "--bootstrap", "100", "--formats", "png"])
    assert code == 0
    assert (out / "behaviour_vs_dynamic.png").stat().st_size > 0
    rho = pd.read_csv(out / "behaviour_correlation.csv")["spearman_rho"].iloc[0]
    assert rho == pytest.approx(1.0)
