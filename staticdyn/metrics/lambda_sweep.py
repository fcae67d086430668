"""Unit classes as a function of the threshold lambda (METHOD.md section 4).

Lambda = 0.5 is a convention, not a property of the network. Showing the class counts over
lambda in [0.1, 0.9] tells a reader whether a conclusion ("this layer is mostly static") holds
for any reasonable threshold or only at the chosen one. The per-unit ratios r_dynamic and
r_static do not depend on lambda, so the sweep re-thresholds them and never touches features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.unitwise import UNIT_CLASSES

if TYPE_CHECKING:
    import pandas as pd

    from staticdyn.metrics.analyze import RunTables

SWEEP_COLUMNS: list[str] = ["layer", "lambda", *UNIT_CLASSES]


def default_lambdas(step: float = 0.05) -> np.ndarray:
    """0.1, 0.15, ..., 0.9 (rounded so that 0.5 is exactly 0.5 and matches the run's table)."""
    return np.round(np.arange(0.1, 0.9 + step / 2, step), 4)


def sweep_counts(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray,
    lambdas: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """(L, 5) counts in UNIT_CLASSES order for each lambda, same rules as classify_units."""
    lam = np.asarray(lambdas, dtype=np.float64)[:, None]
    live = ~np.asarray(dead, bool)[None, :]
    hi_d = (np.asarray(r_dynamic)[None, :] > lam) & live
    hi_s = (np.asarray(r_static)[None, :] > lam) & live
    dyn = (hi_d & ~hi_s).sum(axis=1)
    stat = (hi_s & ~hi_d).sum(axis=1)
    joint = (hi_d & hi_s).sum(axis=1)
    n_dead = np.full(lam.shape[0], int((~live).sum()))
    residual = live.sum() - dyn - stat - joint
    return np.stack([dyn, stat, joint, residual, n_dead], axis=1)


def dead_from_scores(r_dynamic: np.ndarray, r_static: np.ndarray) -> np.ndarray:
    """Dead units as unit_scores reports them: r is exactly 0 for both factors.

    A live unit with both ratios exactly 0.0 in floating point is not a practical concern, and
    unit_scores.csv carries no separate dead column, so this is how a table is re-thresholded.
    """
    return (np.asarray(r_dynamic) == 0.0) & (np.asarray(r_static) == 0.0)


def lambda_sweep(
    unit_scores: pd.DataFrame, lambdas: Sequence[float] | np.ndarray | None = None
) -> pd.DataFrame:
    """Tidy table (layer, lambda, class counts) from a run's unit_scores table."""

    lams = default_lambdas() if lambdas is None else np.asarray(lambdas, float)
    frames = []
    for layer, g in unit_scores.groupby("layer", sort=False):
        r_d = g["r_dynamic"].to_numpy(float)
        r_s = g["r_static"].to_numpy(float)
        frames.append(_layer_frame(layer, r_d, r_s, dead_from_scores(r_d, r_s), lams))
    return _stack(frames)


def _layer_frame(layer: str, r_d: np.ndarray, r_s: np.ndarray, dead: np.ndarray,
                 lams: np.ndarray) -> pd.DataFrame:
    """One layer's rows of the sweep table: class counts at every lambda."""
    import pandas as pd

    df = pd.DataFrame(sweep_counts(r_d, r_s, dead, lams), columns=list(UNIT_CLASSES))
    df.insert(0, "lambda", lams)
    df.insert(0, "layer", layer)
    return df


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    import pandas as pd

    if not frames:
        return pd.DataFrame(columns=SWEEP_COLUMNS)
    return pd.concat(frames, ignore_index=True)[SWEEP_COLUMNS]


def lambda_sweep_h5(
    path: str | Path, lambdas: Sequence[float] | np.ndarray | None = None,
    layers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Same table straight from a features file, with the exact dead mask of unit_scores."""
    import h5py

    from staticdyn.metrics.analyze import layer_names, read_layer
    from staticdyn.metrics.unitwise import unit_scores as compute_scores

    lams = default_lambdas() if lambdas is None else np.asarray(lambdas, float)
    frames = []
    with h5py.File(path, "r") as f:
        n = int(f.attrs.get("n_rows", f["pairs"]["factor"].shape[0]))
        factor = f["pairs"]["factor"][:n].astype(np.int64)
        for layer in list(layers) if layers else layer_names(f):
            r_d, r_s, dead = compute_scores(*read_layer(f, layer), factor)
            frames.append(_layer_frame(layer, r_d, r_s, dead, lams))
    return _stack(frames)


def write_lambda_sweep(tables: RunTables, out_dir: str | Path) -> dict[str, Path]:
    """lambda_sweep.csv and lambda_sweep.png for a run; returns the paths by file name."""
    from staticdyn.report.figures import lambda_sweep_figure, save_figure
    from staticdyn.report.run_report import is_untrained
    from staticdyn.report.tables import write_csv

    out_dir = Path(out_dir)
    sweep = lambda_sweep(tables.unit_scores)
    written = {"lambda_sweep.csv": write_csv(sweep, out_dir / "lambda_sweep.csv", SWEEP_COLUMNS)}
    title = f"{tables.meta.get('model', '?')} on {tables.meta.get('dataset', '?')}"
    if is_untrained(tables.meta):
        title += " [UNTRAINED]"
    fig = lambda_sweep_figure(sweep, title=title, mark=float(tables.meta.get("lambda", 0.5)))
    for path in save_figure(fig, out_dir / "lambda_sweep", formats=("png",)):
        written[path.name] = path
    return written
