"""Unit-wise metric: what each unit encodes (METHOD.md section 4).

r_f[c] = C_f[c] / var_f[c]. A unit is joint when both r exceed lambda, dynamic or static when
only that one does, residual when neither does. Unlike the authors' code, a tie at lambda counts
as "below" and a unit with zero variance is reported as ``dead`` instead of silently vanishing
from the percentages as NaN.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from staticdyn.metrics.factors import FACTOR_NAMES, factor_stats, split_by_factor

UNIT_CLASSES: tuple[str, ...] = ("dynamic", "static", "joint", "residual", "dead")


@dataclass(frozen=True)
class UnitResult:
    dynamic: int
    static: int
    joint: int
    residual: int
    dead: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def unit_scores(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r_dynamic, r_static, dead) per unit. r is 0 where the unit is dead, never NaN."""
    parts = split_by_factor(za, zb, factor)
    stats = [factor_stats(*parts[f]) for f in FACTOR_NAMES]
    dead = stats[0].dead | stats[1].dead
    r = []
    for s in stats:
        safe = np.where(dead, 1.0, s.var)
        r.append(np.where(dead, 0.0, s.cross / safe))
    return r[0], r[1], dead


def classify_units(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray, lam: float = 0.5
) -> np.ndarray:
    """Class name per unit; strict '>' so a unit exactly at lambda is "below"."""
    hi_d = r_dynamic > lam
    hi_s = r_static > lam
    cls = np.full(r_dynamic.shape, "residual", dtype=object)
    cls[hi_d & ~hi_s] = "dynamic"
    cls[hi_s & ~hi_d] = "static"
    cls[hi_d & hi_s] = "joint"
    cls[dead] = "dead"
    return cls


def count_classes(classes: np.ndarray) -> UnitResult:
    return UnitResult(**{k: int((classes == k).sum()) for k in UNIT_CLASSES})


def unitwise(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, lam: float = 0.5
) -> UnitResult:
    """Unit-class counts of one layer at threshold ``lam``."""
    r_d, r_s, dead = unit_scores(za, zb, factor)
    return count_classes(classify_units(r_d, r_s, dead, lam))
