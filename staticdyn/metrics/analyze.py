"""From a features.h5 file to the per-run tables, without the model.

This is the only place the metrics touch the store format: it reads one layer at a time (a
(N, C) pair of matrices), so memory stays at one layer however many layers were probed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

from staticdyn.metrics.layerwise import layerwise
from staticdyn.metrics.unitwise import classify_units, count_classes, unit_scores

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


def _attr_str(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def read_layer(f: h5py.File, layer: str) -> tuple[np.ndarray, np.ndarray]:
    g = f["features"][layer]
    n = int(f.attrs.get("n_rows", g["a"].shape[0]))
    return g["a"][:n], g["b"][:n]


def layer_names(f: h5py.File) -> list[str]:
    """Layers in the order they were requested (stored as an attribute; h5 sorts group names)."""
    if "layers" in f.attrs:
        return [_attr_str(x) for x in f.attrs["layers"]]
    return list(f["features"].keys())


def analyze_h5(
    path: str | Path, lam: float = 0.5, estimator: str = "pooled",
    layers: list[str] | None = None,
) -> RunTables:
    """Layer-wise, unit-wise and per-unit score tables for every layer of a features file."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"features file not found: {path}")
    lw, uw, us = [], [], []
    with h5py.File(path, "r") as f:
        model = _attr_str(f.attrs.get("model", "?"))
        dataset = _attr_str(f.attrs.get("dataset", "?"))
        n = int(f.attrs.get("n_rows", f["pairs"]["factor"].shape[0]))
        factor = f["pairs"]["factor"][:n].astype(np.int64)
        names = layer_names(f)
        if layers:
            unknown = [x for x in layers if x not in names]
            if unknown:
                raise KeyError(f"layers {unknown} are not in {path}. Valid: {', '.join(names)}")
            names = list(layers)
        meta = {k: _attr_str(v) for k, v in f.attrs.items() if k not in ("layers",)}
        for layer in names:
            za, zb = read_layer(f, layer)
            res = layerwise(za, zb, factor, estimator=estimator)
            lw.append({"model": model, "dataset": dataset, "layer": layer, **res.as_dict()})
            r_d, r_s, dead = unit_scores(za, zb, factor)
            counts = count_classes(classify_units(r_d, r_s, dead, lam))
            uw.append({"model": model, "dataset": dataset, "layer": layer, "lambda": lam,
                       **counts.as_dict()})
            us.append(pd.DataFrame({"layer": layer, "unit": np.arange(len(r_d)),
                                    "r_dynamic": r_d, "r_static": r_s}))
    meta.update({"lambda": lam, "estimator": estimator, "n_pairs": n, "path": str(path)})
    return RunTables(
        layerwise=pd.DataFrame(lw, columns=LAYERWISE_COLUMNS),
        unitwise=pd.DataFrame(uw, columns=UNITWISE_COLUMNS),
        unit_scores=pd.concat(us, ignore_index=True) if us else pd.DataFrame(
            columns=UNIT_SCORE_COLUMNS),
        meta=meta,
    )
