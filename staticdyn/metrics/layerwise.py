"""Layer-wise metric: how many of a layer's units encode each factor (METHOD.md section 3).

Two estimators of the per-factor score s_f:
- ``pooled`` (default, the authors' code): sum over channels of the cross-covariance of the pair
  members around the factor's pair mean, divided by the total variance of all features of both
  factors (population variance, summed over channels).
- ``paper`` (the printed equation): the mean over channels of the per-channel Pearson correlation
  of the two members, so identical pairs score exactly 1.
The scores of both factors and the "identical" factor (score 1) go through a softmax and the
proportions are turned into unit counts by truncation, exactly like the authors' code.

The formulas live in ``staticdyn.metrics.core``; this module is the row-based entry point.
"""

from __future__ import annotations

import numpy as np

from staticdyn.metrics import core
from staticdyn.metrics.core import (
    ESTIMATORS,
    LayerResult,
    check_estimator,
    layer_result,
    row_stats,
    softmax_with_identical,
    total_variance,
    unit_counts,
)

__all__ = ["ESTIMATORS", "LayerResult", "layer_scores", "layerwise", "softmax_with_identical",
           "total_variance", "units_from_scores"]


def units_from_scores(s_dynamic: float, s_static: float, units: int) -> tuple[int, int, int]:
    """Unit counts by truncation, as the authors' code does; the residual takes the rest."""
    d_dyn, d_stat, d_res = (int(d) for d in unit_counts(s_dynamic, s_static, units))
    return d_dyn, d_stat, d_res


def layer_scores(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, estimator: str = "pooled"
) -> tuple[float, float]:
    """(s_dynamic, s_static) for one layer.

    A layer whose features have no variance at all gets scores 0 (every unit ends up residual)
    rather than NaN; a factor with no pairs also scores 0.
    """
    stats = row_stats(za, zb, factor, with_total_var=check_estimator(estimator) == "pooled")
    s_dyn, s_stat = core.layer_scores(stats, estimator)
    return float(s_dyn), float(s_stat)


def layerwise(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, estimator: str = "pooled"
) -> LayerResult:
    """The layer-wise result for one layer's pooled features (METHOD.md section 3)."""
    stats = row_stats(za, zb, factor, with_total_var=check_estimator(estimator) == "pooled")
    return layer_result(stats, estimator)
