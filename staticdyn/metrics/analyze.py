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


@dataclass
class RunTables:
    """Everything a report needs from one run."""

    layerwise: pd.DataFrame
    unitwise: pd.DataFrame
    unit_scores: pd.DataFrame
    meta: dict[str, object] = field(default_factory=dict)


def analyze_h5(
    path: str | Path, lam: float = 0.5, estimator: str = "pooled",
    layers: list[str] | None = None,
) -> RunTables:
    """Layer-wise, unit-wise and per-unit score tables for every layer of a features file."""
    check_estimator(estimator)
    lw, uw, us = [], [], []
    with open_features(path) as src:
        meta: dict[str, object] = dict(src.meta())
        model, dataset = meta.get("model", "?"), meta.get("dataset", "?")
        names = src.select(layers)
        for layer in names:
            stats = row_stats(*src.rows(layer), src.factor,
                              with_total_var=estimator == "pooled")
            lw.append({"model": model, "dataset": dataset, "layer": layer,
                       **layer_result(stats, estimator).as_dict()})
            r_d, r_s, dead = unit_ratios(stats)
            counts = {k: int(v) for k, v in count_units(r_d, r_s, dead, lam).items()}
            uw.append({"model": model, "dataset": dataset, "layer": layer, "lambda": lam,
                       **counts})
            us.append(pd.DataFrame({"layer": layer, "unit": np.arange(len(r_d)),
                                    "r_dynamic": r_d, "r_static": r_s}))
        n = src.n_rows
    meta.update({"lambda": lam, "estimator": estimator, "n_pairs": n, "path": str(Path(path))})
    return RunTables(
        layerwise=pd.DataFrame(lw, columns=LAYERWISE_COLUMNS),
        unitwise=pd.DataFrame(uw, columns=UNITWISE_COLUMNS),
        unit_scores=pd.concat(us, ignore_index=True) if us else pd.DataFrame(
            columns=UNIT_SCORE_COLUMNS),
        meta=meta,
    )
