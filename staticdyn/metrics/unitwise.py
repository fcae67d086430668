"""Unit-wise metric: what each unit encodes (METHOD.md section 4).

r_f[c] = C_f[c] / var_f[c]. A unit is joint when both r exceed lambda, dynamic or static when
only that one does, residual when neither does. Unlike the authors' code, a tie at lambda counts
as "below" and a unit with zero variance is reported as ``dead`` instead of silently vanishing
from the percentages as NaN.

The formulas (the ratio, the dead test, the class rule) live in ``staticdyn.metrics.core``;
this module is the row-based entry point.
"""

from __future__ import annotations

import numpy as np

from staticdyn.metrics.core import (
    UNIT_CLASSES,
    UnitResult,
    class_masks,
    row_stats,
    unit_ratios,
    unit_result,
)

__all__ = ["UNIT_CLASSES", "UnitResult", "classify_units", "count_classes", "unit_scores",
           "unitwise"]


def unit_scores(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r_dynamic, r_static, dead) per unit. r is 0 where the unit is dead, never NaN."""
    return unit_ratios(row_stats(za, zb, factor, with_total_var=False))


def classify_units(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray, lam: float = 0.5
) -> np.ndarray:
    """Class name per unit (an object array), by the rule of ``core.class_masks``."""
    masks = class_masks(r_dynamic, r_static, dead, lam)
    cls = np.full(np.shape(r_dynamic), "residual", dtype=object)
    for name, mask in masks.items():
        cls[mask] = name
    return cls


def count_classes(classes: np.ndarray) -> UnitResult:
    """Counts per class of an array of class names."""
    return UnitResult(**{k: int((classes == k).sum()) for k in UNIT_CLASSES})


def unitwise(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, lam: float = 0.5
) -> UnitResult:
    """Unit-class counts of one layer at threshold ``lam``."""
    return unit_result(row_stats(za, zb, factor, with_total_var=False), lam)
