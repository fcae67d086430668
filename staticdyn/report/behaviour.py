"""Sweep view of the behavioural cross-check: does the representation measure agree with what
the models do? No torch: reads the runs' ``behaviour.csv`` (``probe.behaviour=true``).

Per run that has one, its last probed layer's dynamic % (with the run's interval) is set against
its shuffled-frame relative drop (with its interval). Across runs, Spearman's rank correlation
(``scipy.stats.spearmanr``: only the order matters, since neither scale is linear in the other)
with a 95% bootstrap interval over the runs: the runs are resampled with replacement, which
says how much the correlation depends on which models happen to be in the sweep. Each run is
one point (several seeds of a model give several points).

Written to the sweep report: ``behaviour_all.csv/.md`` (one row per run), ``behaviour_vs_dynamic
.{png,pdf}`` and ``behaviour_correlation.csv``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from staticdyn.metrics.intervals import percentile_interval
from staticdyn.report.figures import COLORS, new_figure, save_figure
from staticdyn.report.tables import to_markdown, write_csv

log = logging.getLogger("staticdyn.report")

BEHAVIOUR_CSV = "behaviour.csv"  # written by probe.behaviour into every run directory
MIN_RUNS = 3  # a rank correlation of two points is always +-1
DROPS = ("shuffled", "appearance_free")
SWEEP_COLUMNS: list[str] = [
    "model", "dataset", "seed", "run_dir", "layer", "dynamic_pct", "dynamic_pct_lo",
    "dynamic_pct_hi", "top1_original", "n_clips",
    *[f"{c}_drop{s}" for c in DROPS for s in ("", "_lo", "_hi")],
]
CORRELATION_COLUMNS: list[str] = ["x", "y", "n_runs", "spearman_rho", "rho_lo", "rho_hi",
                                  "p_value", "n_boot", "note"]


@dataclass
class Correlation:
    rho: float
    lo: float
    hi: float
    p_value: float
    n: int
    n_boot: int
    note: str = ""

    def text(self) -> str:
        if not np.isfinite(self.rho):
            return f"Spearman rho not estimable ({self.note})"
        p = "p < 0.001" if self.p_value < 0.001 else f"p = {self.p_value:.3g}"
        return (f"Spearman rho = {self.rho:.2f} [{self.lo:.2f}, {self.hi:.2f}] "
                f"(95% bootstrap over {self.n} runs), {p}")


def spearman_interval(x: Sequence[float], y: Sequence[float], n_boot: int = 1000,
                      seed: int = 0, level: float = 0.95) -> Correlation:
    """Spearman's rho of (x, y) with a percentile bootstrap interval over the points.

    Resamples in which every x or every y is tied have no rank correlation and are left out
    of the interval. Fewer than ``MIN_RUNS`` points or constant data: not estimable (NaN)."""
    xv, yv = np.asarray(x, float), np.asarray(y, float)
    ok = np.isfinite(xv) & np.isfinite(yv)
    xv, yv = xv[ok], yv[ok]
    n = int(xv.size)
    if n < MIN_RUNS:
        return Correlation(np.nan, np.nan, np.nan, np.nan, n, n_boot,
                           f"{n} runs with both numbers, need >= {MIN_RUNS}")
    if np.ptp(xv) == 0 or np.ptp(yv) == 0:
        return Correlation(np.nan, np.nan, np.nan, np.nan, n, n_boot,
                           "one of the two is the same in every run")
    res = spearmanr(xv, yv)
    rho, p = float(res.statistic), float(res.pvalue)
    lo = hi = np.nan
    if n_boot:
        idx = np.random.default_rng(seed).integers(0, n, size=(n_boot, n))
        rhos = []
        for row in idx:
            bx, by = xv[row], yv[row]
            if np.ptp(bx) > 0 and np.ptp(by) > 0:
                rhos.append(float(spearmanr(bx, by).statistic))
        if rhos:
            lo, hi = percentile_interval(np.asarray(rhos), level)
    return Correlation(rho, lo, hi, p, n, n_boot)


def _last_layer_rows(layerwise: pd.DataFrame) -> pd.DataFrame:
    """Each run's last probed layer (highest ``layer_index``)."""
    order = "layer_index" if "layer_index" in layerwise.columns else None
    df = layerwise.sort_values(order, kind="stable") if order else layerwise
    return df.groupby("run_dir", sort=False).tail(1)


def collect_behaviour(layerwise: pd.DataFrame) -> pd.DataFrame:
    """One row per kept run with a behaviour.csv (``SWEEP_COLUMNS``), from a sweep's
    ``layerwise_all`` table (``report.aggregate``)."""
    rows = []
    if layerwise.empty or "run_dir" not in layerwise.columns:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    for r in _last_layer_rows(layerwise).to_dict("records"):
        path = Path(str(r["run_dir"])) / BEHAVIOUR_CSV
        if not path.is_file():
            continue
        beh = pd.read_csv(path).set_index("condition")
        if "original" not in beh.index:
            log.warning("%s has no 'original' row: left out", path)
            continue
        row = {k: r.get(k, np.nan) for k in ("model", "dataset", "seed", "run_dir", "layer",
                                               "dynamic_pct", "dynamic_pct_lo",
                                               "dynamic_pct_hi")}
        row["top1_original"] = beh.loc["original", "top1"]
        row["n_clips"] = beh.loc["original", "n_clips"]
        for cond in DROPS:
            for s in ("", "_lo", "_hi"):
                row[f"{cond}_drop{s}"] = (beh.loc[cond, f"relative_drop{s}"]
                                          if cond in beh.index else np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=SWEEP_COLUMNS)


def _err(df: pd.DataFrame, col: str) -> np.ndarray:
    v = df[col].to_numpy(float)
    lo, hi = df[f"{col}_lo"].to_numpy(float), df[f"{col}_hi"].to_numpy(float)
    return np.clip(np.nan_to_num(np.vstack([v - lo, hi - v])), 0.0, None)


def behaviour_figure(df: pd.DataFrame, corr: Correlation):  # noqa: ANN201 - a Figure
    """Last-stage dynamic % (x) against the shuffled-frame relative drop (y), one point per
    run with both intervals, the rank correlation in the title."""
    fig = new_figure(5.6, 4.2)
    ax = fig.subplots()
    ax.errorbar(df["dynamic_pct"], df["shuffled_drop"], xerr=_err(df, "dynamic_pct"),
                yerr=_err(df, "shuffled_drop"), fmt="o", color=COLORS["dynamic"],
                ecolor="#888888", capsize=2, markersize=5)
    for r in df.itertuples(index=False):
        ax.annotate(f"{r.model} ({r.layer})", (r.dynamic_pct, r.shuffled_drop), fontsize=7,
                    xytext=(4, 3), textcoords="offset points")
    ax.axhline(0.0, color="#BBBBBB", linewidth=0.8)
    ax.set(xlabel="dynamic units, last probed layer (%, layer-wise)",
           ylabel="top-1 lost when frames are shuffled (% of original)",
           title=corr.text())
    ax.title.set_fontsize(8)
    ax.grid(alpha=0.3)
    return fig


def write_behaviour_report(layerwise: pd.DataFrame, out_dir: str | Path,
                           formats: Sequence[str] = ("png", "pdf"), n_boot: int = 1000,
                           seed: int = 0) -> dict[str, Path]:
    """The sweep's behaviour table, figure and correlation; {} (and one log line) when no
    kept run has a behaviour.csv."""
    out_dir = Path(out_dir)
    df = collect_behaviour(layerwise)
    if df.empty:
        log.info("behaviour_vs_dynamic: skipped (no run has %s: probe.behaviour=true)",
                 BEHAVIOUR_CSV)
        return {}
    corr = spearman_interval(df["dynamic_pct"], df["shuffled_drop"], n_boot, seed)
    written = {"behaviour_all.csv": write_csv(df, out_dir / "behaviour_all.csv")}
    md = out_dir / "behaviour_all.md"
    shown = [c for c in SWEEP_COLUMNS if c not in ("run_dir", "n_clips")]
    md.write_text(to_markdown(df, shown) + f"\n{corr.text()}\n")
    written["behaviour_all.md"] = md
    table = pd.DataFrame([{"x": "dynamic_pct (last probed layer)", "y": "shuffled_drop",
                           "n_runs": corr.n, "spearman_rho": corr.rho, "rho_lo": corr.lo,
                           "rho_hi": corr.hi, "p_value": corr.p_value, "n_boot": corr.n_boot,
                           "note": corr.note}], columns=CORRELATION_COLUMNS)
    written["behaviour_correlation.csv"] = write_csv(table, out_dir /
                                                     "behaviour_correlation.csv")
    for path in save_figure(behaviour_figure(df, corr), out_dir / "behaviour_vs_dynamic",
                            tuple(formats)):
        written[path.name] = path
    return written
