"""Intervals: percentile intervals of bootstrap samples, and the papers' seed protocol.

Kept apart from the resampling (``bootstrap.py``) and from the formulas (``core.py``): an
interval is a summary of many values of a statistic, whatever produced them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pandas only for the table helpers
    import pandas as pd

    from staticdyn.metrics.analyze import RunTables
    from staticdyn.metrics.bootstrap import BootstrapResult

INTERVAL_LAYER_STATS: tuple[str, ...] = (
    "score_dynamic", "score_static", "dynamic_pct", "static_pct", "residual_pct",
)


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval: the (1-level)/2 and (1+level)/2 quantiles of the samples."""
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(samples, float), [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def seed_interval(
    values: Sequence[float] | np.ndarray, axis: int = 0, ddof: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The papers' seed protocol: (mean, half-width 1.96 * std / sqrt(n)) over seeds.

    ``ddof=0`` is numpy's default std, which the authors' numpy scripts use; pass ``ddof=1``
    for the sample standard deviation. One seed gives a half-width of 0 with ddof 0.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[axis]
    mean = v.mean(axis=axis)
    if n - ddof <= 0:
        return mean, np.full_like(mean, np.nan)
    return mean, 1.96 * v.std(axis=axis, ddof=ddof) / np.sqrt(n)


def interval_table(
    samples: Mapping[str, Mapping[str, np.ndarray]], stats: Sequence[str], level: float = 0.95
) -> pd.DataFrame:
    """One row per layer: ``<stat>_lo``/``<stat>_hi`` percentile bounds of each statistic.

    Scores are rounded to 6 digits, percentages and unit counts to 1, like the tables.
    """
    import pandas as pd

    rows = []
    for layer, per_stat in samples.items():
        row: dict[str, object] = {"layer": layer}
        for stat in stats:
            lo, hi = percentile_interval(per_stat[stat], level)
            digits = 6 if stat.startswith("score_") else 1
            row[f"{stat}_lo"], row[f"{stat}_hi"] = round(lo, digits), round(hi, digits)
        rows.append(row)
    return pd.DataFrame(rows)


def attach_intervals(tables: RunTables, boot: BootstrapResult) -> RunTables:
    """A copy of the run tables with ``_lo``/``_hi`` columns appended (merged on layer).

    A row that is not estimable (``estimable`` false) gets blank bounds, like its numbers.
    """
    from staticdyn.metrics.estimable import blank_rows

    tables_out = []
    for df, ivals in ((tables.layerwise, boot.layer_intervals()),
                      (tables.unitwise, boot.unit_intervals())):
        merged = df.merge(ivals, on="layer", how="left", sort=False)
        if "estimable" in merged.columns:
            merged = blank_rows(merged, ~merged["estimable"].to_numpy(bool),
                                [c for c in ivals.columns if c != "layer"])
        tables_out.append(merged)
    lw, uw = tables_out
    meta = dict(tables.meta)
    meta.update({"bootstrap_n": boot.n_boot, "bootstrap_seed": boot.seed,
                 "bootstrap_level": boot.level})
    return replace(tables, layerwise=lw, unitwise=uw, meta=meta)


def pairs_needed(half_width: float, n_pairs: int, target: float) -> float:
    """Pairs needed for an interval half-width of ``target``, from one observed at ``n_pairs``.

    A bootstrap interval's width scales as 1/sqrt(N) (the statistic is a smooth function of
    means over pairs), so N_target = N * (h / target)^2, and never under the 4 pairs (2 per
    factor) any estimate needs. NaN when nothing was observed.
    """
    if not np.isfinite(half_width) or n_pairs <= 0 or target <= 0:
        return float("nan")
    return float(max(4.0, np.ceil(n_pairs * (half_width / target) ** 2)))


def pairs_needed_table(
    layerwise: pd.DataFrame, n_pairs: int, target: float = 2.0,
    stats: Sequence[str] = ("dynamic_pct", "static_pct"),
) -> pd.DataFrame:
    """Per layer: the observed 95% half-width of each percentage and the pairs needed for a
    half-width of ``target`` percentage points (the larger over ``stats``)."""
    import pandas as pd

    rows = []
    for _, r in layerwise.iterrows():
        row: dict[str, object] = {"layer": r["layer"]}
        need = []
        for stat in stats:
            lo, hi = r.get(f"{stat}_lo", np.nan), r.get(f"{stat}_hi", np.nan)
            h = (float(hi) - float(lo)) / 2.0 if pd.notna(lo) and pd.notna(hi) else np.nan
            row[f"{stat}_half_width"] = h
            need.append(pairs_needed(h, n_pairs, target))
        row["pairs_needed"] = max(need) if all(np.isfinite(need)) else np.nan
        rows.append(row)
    return pd.DataFrame(rows)
