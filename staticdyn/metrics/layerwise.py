"""Layer-wise metric: how many of a layer's units encode each factor (METHOD.md section 3).

Two estimators of the per-factor score s_f:
- ``pooled`` (default, the authors' code): sum over channels of the cross-covariance of the pair
  members around the factor's pair mean, divided by the total variance of all features of both
  factors (population variance, summed over channels).
- ``paper`` (the printed equation): the mean over channels of the per-channel Pearson correlation
  of the two members, so identical pairs score exactly 1.
The scores of both factors and the "identical" factor (score 1) go through a softmax and the
proportions are turned into unit counts by truncation, exactly like the authors' code.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from staticdyn.metrics.factors import FACTOR_NAMES, factor_stats, split_by_factor

ESTIMATORS: tuple[str, ...] = ("pooled", "paper")


@dataclass(frozen=True)
class LayerResult:
    units: int
    pairs_dynamic: int
    pairs_static: int
    score_dynamic: float
    score_static: float
    dynamic_units: int
    static_units: int
    residual_units: int
    dynamic_pct: float
    static_pct: float
    residual_pct: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def softmax_with_identical(s_dynamic: float, s_static: float) -> np.ndarray:
    """p = softmax(s_dynamic, s_static, 1), max-subtracted for stability."""
    s = np.array([s_dynamic, s_static, 1.0], dtype=np.float64)
    e = np.exp(s - s.max())
    return e / e.sum()


def units_from_scores(s_dynamic: float, s_static: float, units: int) -> tuple[int, int, int]:
    """Unit counts by truncation, as the authors' code does; the residual takes the rest."""
    p = softmax_with_identical(s_dynamic, s_static)
    d_dyn = int(p[0] * units)
    d_stat = int(p[1] * units)
    return d_dyn, d_stat, units - d_dyn - d_stat


def total_variance(za: np.ndarray, zb: np.ndarray) -> float:
    """V: population variance of [za; zb] over all pairs of both factors, summed over channels."""
    z = np.concatenate([np.asarray(za, np.float64), np.asarray(zb, np.float64)], axis=0)
    if z.shape[0] == 0:
        return 0.0
    return float(((z - z.mean(axis=0)) ** 2).mean(axis=0).sum())


def layer_scores(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, estimator: str = "pooled"
) -> tuple[float, float]:
    """(s_dynamic, s_static) for one layer.

    A layer whose features have no variance at all gets scores 0 (every unit ends up residual)
    rather than NaN; a factor with no pairs also scores 0.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator '{estimator}'. Valid choices: {', '.join(ESTIMATORS)}")
    parts = split_by_factor(za, zb, factor)
    stats = {name: factor_stats(*parts[name]) for name in FACTOR_NAMES}
    if estimator == "pooled":
        v = total_variance(za, zb)
        if not v > 0:
            return 0.0, 0.0
        return tuple(float(stats[f].cross.sum() / v) if stats[f].n else 0.0 for f in FACTOR_NAMES)
    out = []
    for f in FACTOR_NAMES:
        corr = stats[f].corr
        ok = np.isfinite(corr)
        out.append(float(corr[ok].mean()) if ok.any() else 0.0)
    return out[0], out[1]


def layerwise(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, estimator: str = "pooled"
) -> LayerResult:
    """The layer-wise result for one layer's pooled features (METHOD.md section 3)."""
    za = np.asarray(za)
    units = int(za.shape[1])
    s_dyn, s_stat = layer_scores(za, zb, factor, estimator)
    d_dyn, d_stat, d_res = units_from_scores(s_dyn, s_stat, units)
    factor = np.asarray(factor)

    def pct(d: int) -> float:
        return round(100.0 * d / units, 1) if units else 0.0

    return LayerResult(
        units=units,
        pairs_dynamic=int((factor == 0).sum()),
        pairs_static=int((factor == 1).sum()),
        score_dynamic=s_dyn,
        score_static=s_stat,
        dynamic_units=d_dyn,
        static_units=d_stat,
        residual_units=d_res,
        dynamic_pct=pct(d_dyn),
        static_pct=pct(d_stat),
        residual_pct=pct(d_res),
    )
