"""The papers' seed protocol over a table of per-seed results: the one seed summary.

Both seed summaries of the project come from ``seed_summary``: the ``seeds_*.csv`` of a
``probe.seeds=[...]`` run (``pipeline.run_seeds``) and the sweep's ``layerwise_seeds.csv`` and
figures (``report.aggregate``). They differ only in how the interval is spelled, which each
keeps so that no existing file changes (see ``seed_summary``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from staticdyn.metrics.intervals import seed_interval
from staticdyn.report.runs import KEY_COLUMNS

# A sweep's condition: every identity column except the seed, and the layer.
SWEEP_KEYS: list[str] = [c for c in KEY_COLUMNS if c != "seed"] + ["untrained", "layer"]


def seed_summary(
    df: pd.DataFrame, value_cols: Sequence[str], keys: Sequence[str] = tuple(SWEEP_KEYS),
    index_col: str | None = "layer_index", half_width: bool = False,
) -> pd.DataFrame:
    """Mean over seeds per group of ``keys``, with the papers' interval 1.96 * std / sqrt(n).

    One row per group (in order of appearance), the keys first, then ``index_col`` (the
    smallest one in the group, when given), ``n_seeds`` (distinct values of ``seed``) and per
    value column the mean and its interval:
    - ``half_width=True``: ``<col>_ci``, the half-width (a single seed gives 0), as in the
      ``seeds_*.csv`` of a multi-seed run;
    - otherwise ``<col>_lo``/``<col>_hi`` = mean -/+ half-width. A group with a single seed has
      no seed spread: it keeps the run's bootstrap interval when there is one, else NaN (an
      interval of zero width would claim a certainty nobody measured). Since ``_lo``/``_hi``
      then mean either the seed interval or a bootstrap one, the papers' numbers are also
      given under names that say what they are, appended after every other column:
      ``<col>_seed_mean`` and ``<col>_seed_ci95`` (1.96 * std / sqrt(n); NaN for one seed).
    """
    keys = list(keys)
    head = [*keys, *([index_col] if index_col else []), "n_seeds"]
    if df.empty:
        return pd.DataFrame(columns=[*head, *value_cols])
    rows = []
    for gkey, g in df.groupby(keys, sort=False, dropna=False):
        row = dict(zip(keys, gkey, strict=True))
        papers: dict[str, float] = {}
        if index_col:
            row[index_col] = int(g[index_col].min())
        row["n_seeds"] = n = int(g["seed"].nunique())
        for col in value_cols:
            mean, half = seed_interval(g[col].to_numpy(float))
            row[col] = float(mean)
            papers[f"{col}_seed_mean"] = float(mean)
            papers[f"{col}_seed_ci95"] = float(half) if n > 1 else float("nan")
            if half_width:
                row[f"{col}_ci"] = float(half)
            elif n > 1:
                row[f"{col}_lo"], row[f"{col}_hi"] = float(mean - half), float(mean + half)
            elif f"{col}_lo" in g.columns:
                row[f"{col}_lo"] = float(g[f"{col}_lo"].iloc[-1])
                row[f"{col}_hi"] = float(g[f"{col}_hi"].iloc[-1])
            else:
                row[f"{col}_lo"] = row[f"{col}_hi"] = float("nan")
        if not half_width:  # the seeds_*.csv of a multi-seed run already say _ci
            row.update(papers)
        rows.append(row)
    return pd.DataFrame(rows)
