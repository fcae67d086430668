"""From a features.h5 file to the per-run tables, without the model.

One layer at a time (a (N, C) pair of matrices), so memory stays at one layer however many
layers were probed. Each layer's statistics are computed once and give both metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from staticdyn.metrics.core import check_estimator, layer_result, row_stats, unit_ratios
from staticdyn.metrics.core import class_counts as count_units
from staticdyn.metrics.estimable import (
    IncompleteRunError,
    blank_rows,
    is_complete,
    layer_note,
)
from staticdyn.metrics.features_file import open_features

LAYERWISE_COLUMNS: list[str] = [
    "model", "dataset", "layer", "units", "pairs_dynamic", "pairs_static", "score_dynamic",
    "score_static", "dynamic_units", "static_units", "residual_units", "dynamic_pct",
    "static_pct", "residual_pct",
]
UNITWISE_COLUMNS: list[str] = [
    "model", "dataset", "layer", "lambda", "dynamic", "static", "joint", "residual", "dead",
]
UNIT_SCORE_COLUMNS: list[str] = ["layer", "unit", "r_dynamic", "r_static"]
# The result columns blanked (NaN) on a row that is not estimable (metrics.estimable).
LAYER_RESULT_COLUMNS: list[str] = LAYERWISE_COLUMNS[6:]
UNIT_RESULT_COLUMNS: list[str] = UNITWISE_COLUMNS[4:]


@dataclass
class RunTables:
    """Everything a report needs from one run."""

    layerwise: pd.DataFrame
    unitwise: pd.DataFrame
    unit_scores: pd.DataFrame
    meta: dict[str, object] = field(default_factory=dict)


def analyze_h5(
    path: str | Path, lam: float = 0.5, estimator: str = "pooled",
    layers: list[str] | None = None, allow_incomplete: bool = False,
) -> RunTables:
    """Layer-wise, unit-wise and per-unit score tables for every layer of a features file.

    Both tables get ``estimable`` and ``note`` columns (``metrics.estimable``); the numbers of a
    row that is not estimable are blank. An incomplete file raises ``IncompleteRunError``
    unless ``allow_incomplete``; then every note says ``partial``.
    """
    check_estimator(estimator)
    lw, uw, us = [], [], []
    notes: list[str] = []
    with open_features(path) as src:
        meta: dict[str, object] = dict(src.meta())
        complete = is_complete(src.meta())
        if not complete and not allow_incomplete:
            raise IncompleteRunError(path, src.n_rows, meta.get("n_pairs_total", "?"))
        model, dataset = meta.get("model", "?"), meta.get("dataset", "?")
        names = src.select(layers)
        for layer in names:
            stats = row_stats(*src.rows(layer), src.factor,
                              with_total_var=estimator == "pooled")
            lw.append({"model": model, "dataset": dataset, "layer": layer,
                       **layer_result(stats, estimator).as_dict()})
            r_d, r_s, dead = unit_ratios(stats)
            counts = {k: int(v) for k, v in count_units(r_d, r_s, dead, lam).items()}
            row = lw[-1]
            notes.append(layer_note(row["pairs_dynamic"], row["pairs_static"], row["units"],
                                    counts["dead"]))
            uw.append({"model": model, "dataset": dataset, "layer": layer, "lambda": lam,
                       **counts})
            us.append(pd.DataFrame({"layer": layer, "unit": np.arange(len(r_d)),
                                    "r_dynamic": r_d, "r_static": r_s}))
        n = src.n_rows
    meta.update({"lambda": lam, "estimator": estimator, "n_pairs": n, "path": str(Path(path))})
    if not complete:
        meta["partial"] = f"incomplete run: {n} of {meta.get('n_pairs_total', '?')} pairs"
        notes = [f"partial ({n} pairs); {x}" if x else f"partial ({n} pairs)" for x in notes]
    return RunTables(
        layerwise=with_estimable(pd.DataFrame(lw, columns=LAYERWISE_COLUMNS), notes,
                                 LAYER_RESULT_COLUMNS),
        unitwise=with_estimable(pd.DataFrame(uw, columns=UNITWISE_COLUMNS), notes,
                                UNIT_RESULT_COLUMNS),
        unit_scores=pd.concat(us, ignore_index=True) if us else pd.DataFrame(
            columns=UNIT_SCORE_COLUMNS),
        meta=meta,
    )


def with_estimable(df: pd.DataFrame, notes: list[str], results: list[str]) -> pd.DataFrame:
    """``estimable``/``note`` columns appended; the results of a not-estimable row blanked."""
    mask = np.array(["not estimable" in x for x in notes], dtype=bool)
    df = blank_rows(df, mask, results)
    df["estimable"] = ~mask
    df["note"] = notes
    return df


def analyze_with_intervals(
    path: str | Path, lam: float = 0.5, estimator: str = "pooled",
    layers: list[str] | None = None, n_boot: int = 1000, seed: int = 0,
    allow_incomplete: bool = False,
) -> RunTables:
    """``analyze_h5`` plus 95% bootstrap intervals (``n_boot`` resamples stratified by factor,
    drawn from ``seed``: the same file and seed give the same bounds). ``n_boot=0``: none."""
    tables = analyze_h5(path, lam=lam, estimator=estimator, layers=layers,
                        allow_incomplete=allow_incomplete)
    if n_boot <= 0:
        return tables
    from staticdyn.metrics.bootstrap import bootstrap_h5
    from staticdyn.metrics.intervals import attach_intervals

    boot = bootstrap_h5(path, n_boot=n_boot, lam=lam, estimator=estimator, seed=seed,
                        layers=layers)
    tables = attach_intervals(tables, boot)
    tables.meta["bootstrap"] = f"{n_boot} resamples, seed {seed}, 95% percentile"
    return tables
