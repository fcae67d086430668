"""Per-factor statistics shared by the layer-wise and unit-wise metrics.

Both metrics are built from the same three per-channel quantities of each factor's pairs:
the pair mean mu_f, the cross-covariance C_f of the two members around mu_f, and the variance
of both members pooled. Computing them in one place keeps the two metrics consistent with each
other and with METHOD.md, where the paper's code and its printed equation differ.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FACTOR_NAMES: tuple[str, str] = ("dynamic", "static")
DYNAMIC, STATIC = 0, 1

# A channel whose pooled variance is below this fraction of its mean square is treated as
# constant ("dead"): float rounding keeps an exactly constant float32 column from giving 0.0.
DEAD_RTOL = 1e-10


@dataclass(frozen=True)
class FactorStats:
    """Per-channel statistics of one factor's pairs (all arrays shaped (C,), float64)."""

    n: int
    mu: np.ndarray  # (mean(za) + mean(zb)) / 2
    cross: np.ndarray  # C_f[c] = mean_n (za - mu)(zb - mu)
    var: np.ndarray  # population variance of concat(za[:, c], zb[:, c])
    mean_sq: np.ndarray  # mean of squares of concat(za, zb), to judge "dead" relative to scale
    corr: np.ndarray  # per-channel Pearson correlation of za vs zb (NaN where undefined)

    @property
    def dead(self) -> np.ndarray:
        return ~(self.var > DEAD_RTOL * np.maximum(self.mean_sq, np.finfo(np.float64).tiny))


def check_pair(za: np.ndarray, zb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both members as float64 (N, C), finite: the one validation every estimator shares."""
    za = np.asarray(za, dtype=np.float64)
    zb = np.asarray(zb, dtype=np.float64)
    if za.ndim != 2 or za.shape != zb.shape:
        raise ValueError(f"za and zb must both be (N, C); got {za.shape} and {zb.shape}")
    if not (np.isfinite(za).all() and np.isfinite(zb).all()):
        raise ValueError("features contain NaN or inf; the model output is not usable")
    return za, zb


def factor_stats(za: np.ndarray, zb: np.ndarray) -> FactorStats:
    """Statistics of one factor from its pair members za, zb (each (N_f, C))."""
    za, zb = check_pair(za, zb)
    n, c = za.shape
    if n == 0:
        nan = np.full(c, np.nan)
        zero = np.zeros(c)
        return FactorStats(0, nan, zero, zero, zero, nan)
    mu = (za.mean(axis=0) + zb.mean(axis=0)) / 2.0
    da, db = za - mu, zb - mu
    cross = (da * db).mean(axis=0)
    var = ((da**2).mean(axis=0) + (db**2).mean(axis=0)) / 2.0
    mean_sq = ((za**2).mean(axis=0) + (zb**2).mean(axis=0)) / 2.0
    # Pearson with each member's own mean (the printed paper equation).
    ca, cb = za - za.mean(axis=0), zb - zb.mean(axis=0)
    denom = np.sqrt((ca**2).sum(axis=0) * (cb**2).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(denom > 0, (ca * cb).sum(axis=0) / np.where(denom > 0, denom, 1.0), np.nan)
    return FactorStats(n, mu, cross, var, mean_sq, corr)


def split_by_factor(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Rows of each factor (0 = dynamic, 1 = static), keyed by factor name."""
    factor = np.asarray(factor)
    if factor.shape[0] != np.shape(za)[0]:
        raise ValueError(f"{factor.shape[0]} factor labels for {np.shape(za)[0]} pairs")
    bad = set(np.unique(factor).tolist()) - {DYNAMIC, STATIC}
    if bad:
        raise ValueError(f"factor labels must be 0 (dynamic) or 1 (static); got {sorted(bad)}")
    return {name: (za[factor == k], zb[factor == k]) for k, name in enumerate(FACTOR_NAMES)}
