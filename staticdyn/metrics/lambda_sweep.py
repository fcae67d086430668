"""Unit classes as a function of lambda, for one run (numbers only; the table and figure files
are written by ``staticdyn.report.lambda_sweep``).

Why: the unit-wise classes depend on the threshold lambda (0.5 by default, a choice the paper
makes without a sensitivity check). The per-unit ratios r_dynamic and r_static do not depend on
lambda, so the sweep re-thresholds them with the one class rule (``core.class_masks``) and never
touches features.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.core import UNIT_CLASSES, class_counts, row_stats, unit_ratios
from staticdyn.metrics.features_file import open_features

if TYPE_CHECKING:
    import pandas as pd

SWEEP_COLUMNS: list[str] = ["layer", "lambda", *UNIT_CLASSES]


def default_lambdas(step: float = 0.05) -> np.ndarray:
    """0.1, 0.15, ..., 0.9 (rounded so that 0.5 is exactly 0.5 and matches the run's table)."""
    return np.round(np.arange(0.1, 0.9 + step / 2, step), 4)


def sweep_counts(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray,
    lambdas: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """(L, 5) counts in UNIT_CLASSES order for each lambda, by the unit-wise class rule."""
    lam = np.asarray(lambdas, dtype=np.float64)[:, None]
    counts = class_counts(r_dynamic, r_static, dead, lam)
    return np.stack([counts[k] for k in UNIT_CLASSES], axis=1)


def dead_from_scores(r_dynamic: np.ndarray, r_static: np.ndarray) -> np.ndarray:
    """Dead units as unit_scores reports them: r is exactly 0 for both factors.

    A live unit with both ratios exactly 0.0 in floating point is not a practical concern, and
    unit_scores.csv carries no separate dead column, so this is how a table is re-thresholded.
    """
    return (np.asarray(r_dynamic) == 0.0) & (np.asarray(r_static) == 0.0)


def _lambdas(lambdas: Sequence[float] | np.ndarray | None) -> np.ndarray:
    return default_lambdas() if lambdas is None else np.asarray(lambdas, float)


def lambda_sweep(
    unit_scores: pd.DataFrame, lambdas: Sequence[float] | np.ndarray | None = None
) -> pd.DataFrame:
    """Tidy table (layer, lambda, class counts) from a run's unit_scores table."""
    lams = _lambdas(lambdas)
    frames = []
    for layer, g in unit_scores.groupby("layer", sort=False):
        r_d = g["r_dynamic"].to_numpy(float)
        r_s = g["r_static"].to_numpy(float)
        frames.append(_layer_frame(layer, r_d, r_s, dead_from_scores(r_d, r_s), lams))
    return _stack(frames)


def lambda_sweep_h5(
    path: str | Path, lambdas: Sequence[float] | np.ndarray | None = None,
    layers: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Same table straight from a features file, with the exact dead mask of unit_scores."""
    lams = _lambdas(lambdas)
    frames = []
    with open_features(path) as src:
        for layer in src.select(layers):
            stats = row_stats(*src.rows(layer), src.factor, with_total_var=False)
            frames.append(_layer_frame(layer, *unit_ratios(stats), lams))
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
