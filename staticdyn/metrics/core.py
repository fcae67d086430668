"""The one formula core of both metrics (METHOD.md sections 3-4). numpy only.

Every number the metrics report is a function of a few per-channel statistics of each factor's
pairs: the cross-covariance C_f of the two members around their pair mean, the pooled variance
var_f, the mean square (for the dead test), the members' Pearson r (the ``paper`` estimator),
and the layer's total variance V. This module is the only place they are computed, and the only
place the results are derived from them.

Statistics come from one of two producers:
- ``row_stats``: the rows themselves, two passes (means first, then central sums). This is the
  point estimate every table reports.
- ``moment_stats``: per-channel weighted moments (``Moments``: sums of w, w*a, w*b, w*a^2,
  w*b^2 and w*ab). The bootstrap (w = resample counts, one row per resample) and the moments a
  shard stores (w = 1; they add across shards) both go through it.
The two agree to rounding, not to the bit: a one-pass moment formula sums in another order than
the two-pass one, and the point estimate keeps its own arithmetic so that no published table
moves in the last digit. Everything downstream (dead test, r_f, unit classes at lambda, the
pooled and paper scores, softmax with "identical" and truncation, percentages) exists once, and
every formula broadcasts over leading axes (one row per resample, one per lambda).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

FACTOR_NAMES: tuple[str, str] = ("dynamic", "static")
DYNAMIC, STATIC = 0, 1
ESTIMATORS: tuple[str, ...] = ("pooled", "paper")
UNIT_CLASSES: tuple[str, ...] = ("dynamic", "static", "joint", "residual", "dead")
MOMENT_KEYS: tuple[str, ...] = ("sum_a", "sum_b", "sum_aa", "sum_bb", "sum_ab")

# A channel whose pooled variance is below this fraction of its mean square is treated as
# constant ("dead"): float rounding keeps an exactly constant float32 column from giving 0.0.
DEAD_RTOL = 1e-10
_TINY = np.finfo(np.float64).tiny


# --- input checks -------------------------------------------------------------------------


def check_estimator(estimator: str) -> str:
    """The estimator name, or a one-line error naming the valid choices."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator '{estimator}'. Valid choices: {', '.join(ESTIMATORS)}")
    return estimator


def check_pair(za: np.ndarray, zb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both members as float64 (N, C), finite: the one validation every estimator shares."""
    za = np.asarray(za, dtype=np.float64)
    zb = np.asarray(zb, dtype=np.float64)
    if za.ndim != 2 or za.shape != zb.shape:
        raise ValueError(f"za and zb must both be (N, C); got {za.shape} and {zb.shape}")
    if not (np.isfinite(za).all() and np.isfinite(zb).all()):
        raise ValueError("features contain NaN or inf; the model output is not usable")
    return za, zb


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


# --- statistics ---------------------------------------------------------------------------


def is_dead(var: np.ndarray, mean_sq: np.ndarray) -> np.ndarray:
    """The dead test: variance at most DEAD_RTOL of the (raw) mean square, i.e. constant."""
    return ~(var > DEAD_RTOL * np.maximum(mean_sq, _TINY))


@dataclass(frozen=True)
class FactorStats:
    """Per-channel statistics of one factor's pairs, float64, shaped (..., C).

    ``weight`` (shape (...)) is the number of pairs, or a resample's total weight.
    """

    weight: np.ndarray | float
    cross: np.ndarray  # C_f[c] = mean (za - mu)(zb - mu), mu the pair mean
    var: np.ndarray  # population variance of concat(za[:, c], zb[:, c])
    mean_sq: np.ndarray  # mean square of concat(za, zb), to judge "dead" relative to scale
    corr: np.ndarray  # per-channel Pearson r of za vs zb (NaN where undefined)

    @property
    def dead(self) -> np.ndarray:
        return is_dead(self.var, self.mean_sq)


@dataclass(frozen=True)
class LayerStats:
    """Both factors' statistics and the total variance V (None when not computed)."""

    dynamic: FactorStats
    static: FactorStats
    total_var: np.ndarray | float | None

    @property
    def factors(self) -> tuple[FactorStats, FactorStats]:
        return self.dynamic, self.static

    @property
    def units(self) -> int:
        return int(self.dynamic.cross.shape[-1])


def _rows_factor_stats(za: np.ndarray, zb: np.ndarray) -> FactorStats:
    """Two-pass statistics of one factor from checked float64 rows (each (N_f, C))."""
    n, c = za.shape
    if n == 0:
        zero = np.zeros(c)
        return FactorStats(0, zero, zero, zero, np.full(c, np.nan))
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
    return FactorStats(n, cross, var, mean_sq, corr)


def factor_stats(za: np.ndarray, zb: np.ndarray) -> FactorStats:
    """Statistics of one factor from its pair members za, zb (each (N_f, C))."""
    return _rows_factor_stats(*check_pair(za, zb))


def total_variance(za: np.ndarray, zb: np.ndarray) -> float:
    """V: population variance of [za; zb] over all pairs of both factors, summed over channels."""
    z = np.concatenate([np.asarray(za, np.float64), np.asarray(zb, np.float64)], axis=0)
    if z.shape[0] == 0:
        return 0.0
    return float(((z - z.mean(axis=0)) ** 2).mean(axis=0).sum())


def row_stats(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, with_total_var: bool = True
) -> LayerStats:
    """The point estimate's statistics of one layer, from its rows (two-pass arithmetic).

    ``with_total_var=False`` skips V (a pass over all rows) when only the unit-wise metric or
    the paper estimator is wanted.
    """
    za, zb = check_pair(za, zb)
    parts = split_by_factor(za, zb, factor)
    dyn, stat = (_rows_factor_stats(*parts[f]) for f in FACTOR_NAMES)
    return LayerStats(dyn, stat, total_variance(za, zb) if with_total_var else None)


@dataclass(frozen=True)
class Moments:
    """Weighted sums over one factor's pairs, per channel: what ``moment_stats`` needs.

    ``n`` is the total weight (the pair count for unweighted sums); the sums are float64 and may
    carry leading axes (one row per bootstrap resample). Sums add, so shards merge by ``+``.
    """

    n: int | np.ndarray
    sum_a: np.ndarray
    sum_b: np.ndarray
    sum_aa: np.ndarray
    sum_bb: np.ndarray
    sum_ab: np.ndarray

    @classmethod
    def of(cls, za: np.ndarray, zb: np.ndarray) -> Moments:
        """Unweighted sums of the rows (each (N_f, C))."""
        a = np.asarray(za, np.float64)
        b = np.asarray(zb, np.float64)
        return cls(a.shape[0], a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, *(getattr(self, k) + getattr(other, k)
                                           for k in MOMENT_KEYS))

    def means(self) -> FactorMeans:
        """The weighted means, members kept apart (so the paper's Pearson r is available)."""
        n = np.asarray(self.n, np.float64)[..., None]
        ea, eb, eaa, ebb, eab = (getattr(self, k) / _nonzero(n) for k in MOMENT_KEYS)
        return FactorMeans(n, ea + eb, eaa + ebb, eab, (ea, eb, eaa, ebb))


def _nonzero(w: np.ndarray) -> np.ndarray:
    """A divisor: w, with 1 where w is 0 (a factor without pairs has all-zero sums)."""
    return np.where(w > 0, w, 1.0)


@dataclass(frozen=True)
class FactorMeans:
    """Weighted means of one factor's pairs per channel, taken around some centre.

    ``z`` = E[a] + E[b] (or E[a + b]), ``zz`` = E[a^2] + E[b^2], ``ab`` = E[a b];
    ``members`` = (E[a], E[b], E[a^2], E[b^2]) when the paper's Pearson r is wanted.
    ``weight`` has shape (..., 1) so it divides the (..., C) arrays directly.
    """

    weight: np.ndarray
    z: np.ndarray
    zz: np.ndarray
    ab: np.ndarray
    members: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None = None

    @classmethod
    def of_sums(
        cls, weight: np.ndarray, sum_z: np.ndarray, sum_zz: np.ndarray, sum_ab: np.ndarray
    ) -> FactorMeans:
        """From sums of (a + b), (a^2 + b^2) and ab: the narrow layout of the pooled bootstrap."""
        w = _nonzero(weight)
        return cls(weight, sum_z / w, sum_zz / w, sum_ab / w)


def _factor_stats_of_means(m: FactorMeans, center: np.ndarray | float) -> FactorStats:
    mu = m.z / 2.0
    cross = m.ab - mu * mu
    var = np.maximum(m.zz / 2.0 - mu * mu, 0.0)
    mean_sq = var + (mu + center) ** 2  # raw mean square: the dead test is not shift-invariant
    corr = np.full_like(cross, np.nan)
    if m.members is not None:
        ea, eb, eaa, ebb = m.members
        va = np.maximum(eaa - ea * ea, 0.0)
        vb = np.maximum(ebb - eb * eb, 0.0)
        ok = ~is_dead(va, va + (ea + center) ** 2) & ~is_dead(vb, vb + (eb + center) ** 2)
        denom = np.sqrt(np.where(ok, va * vb, 1.0))
        corr = np.where(ok, (m.ab - ea * eb) / denom, np.nan)
    return FactorStats(m.weight[..., 0], cross, var, mean_sq, corr)


def moment_stats(
    dynamic: FactorMeans, static: FactorMeans, center: np.ndarray | float = 0.0
) -> LayerStats:
    """A layer's statistics from both factors' weighted means (one pass over moments).

    ``center`` is the per-channel constant the means were taken around. Every statistic except
    the mean square is central, so it does not depend on the centre; the mean square (for the
    dead test) gets it added back.
    """
    nz = 2.0 * (dynamic.weight + static.weight)  # rows of [za; zb]
    w = _nonzero(nz)
    ez = (dynamic.z * dynamic.weight + static.z * static.weight) / w
    ezz = (dynamic.zz * dynamic.weight + static.zz * static.weight) / w
    v = (ezz - ez * ez).sum(axis=-1)
    return LayerStats(_factor_stats_of_means(dynamic, center),
                      _factor_stats_of_means(static, center), v)


# --- everything derived from the statistics -----------------------------------------------


def unit_ratios(stats: LayerStats) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r_dynamic, r_static, dead): r_f = C_f / var_f, 0 (never NaN) where the unit is dead.

    A unit is dead when it is constant over the pairs of either factor.
    """
    dead = stats.dynamic.dead | stats.static.dead
    r_d, r_s = (np.where(dead, 0.0, f.cross / np.where(dead, 1.0, f.var))
                for f in stats.factors)
    return r_d, r_s, dead


def class_masks(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray,
    lam: float | np.ndarray = 0.5,
) -> dict[str, np.ndarray]:
    """The unit-class rule: one boolean mask per class in UNIT_CLASSES order.

    joint when both r exceed lambda, dynamic or static when only that one does, residual when
    neither does, dead overrides all. Strict '>' so a unit exactly at lambda is "below".
    ``lam`` broadcasts: a (L, 1) column against (C,) ratios gives (L, C) masks.
    """
    hi_d = np.asarray(r_dynamic) > lam
    hi_s = np.asarray(r_static) > lam
    dead = np.broadcast_to(np.asarray(dead, bool), hi_d.shape)
    live = ~dead
    return {"dynamic": hi_d & ~hi_s & live, "static": hi_s & ~hi_d & live,
            "joint": hi_d & hi_s & live, "residual": ~hi_d & ~hi_s & live, "dead": dead}


def class_counts(
    r_dynamic: np.ndarray, r_static: np.ndarray, dead: np.ndarray,
    lam: float | np.ndarray = 0.5,
) -> dict[str, np.ndarray]:
    """Units per class (counted over the last axis), in UNIT_CLASSES order."""
    return {k: m.sum(axis=-1) for k, m in class_masks(r_dynamic, r_static, dead, lam).items()}


def finite_mean(values: np.ndarray) -> np.ndarray | float:
    """Mean over the last axis of the finite entries; 0 where there is none.

    Two summation orders, each kept so that no reported number moves: a single vector (the
    point estimate) sums its finite entries only; a batch (one row per bootstrap resample)
    sums every entry with the non-finite ones set to 0, in one vectorised pass. They agree
    exactly when every entry is finite, and to rounding otherwise.
    """
    finite = np.isfinite(values)
    if values.ndim == 1:
        return float(values[finite].mean()) if finite.any() else 0.0
    cnt = finite.sum(axis=-1)
    tot = np.where(finite, values, 0.0).sum(axis=-1)
    return np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)


def pooled_score(stats: FactorStats, total_var: np.ndarray | float) -> np.ndarray:
    """s_f = sum over channels of C_f / V; 0 for a factor without pairs or a layer with V = 0."""
    good = np.asarray(total_var) > 0
    return np.where(good & (np.asarray(stats.weight) > 0),
                    stats.cross.sum(axis=-1) / np.where(good, total_var, 1.0), 0.0)


def layer_scores(stats: LayerStats, estimator: str = "pooled") -> np.ndarray:
    """(..., 2) scores (s_dynamic, s_static).

    ``pooled`` (the authors' code): summed cross-covariance over the total variance V.
    ``paper`` (the printed equation): mean over channels of the per-channel Pearson r.
    A layer without variance scores 0 rather than NaN, and so does a factor without pairs.
    """
    if check_estimator(estimator) == "pooled":
        if stats.total_var is None:
            raise ValueError("the pooled estimator needs the total variance V of the layer")
        return np.stack([pooled_score(f, stats.total_var) for f in stats.factors], axis=-1)
    return np.stack([finite_mean(f.corr) for f in stats.factors], axis=-1)


def softmax_with_identical(
    s_dynamic: np.ndarray | float, s_static: np.ndarray | float
) -> np.ndarray:
    """p = softmax(s_dynamic, s_static, 1) over the last axis, max-subtracted for stability."""
    s_d = np.asarray(s_dynamic, np.float64)
    s = np.stack([s_d, np.asarray(s_static, np.float64), np.ones_like(s_d)], axis=-1)
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def unit_counts(
    s_dynamic: np.ndarray | float, s_static: np.ndarray | float, units: int
) -> np.ndarray:
    """(..., 3) unit counts (dynamic, static, residual), float.

    Proportions from the softmax with "identical" (score 1), turned into counts by truncation as
    the authors' code does; the residual takes the rest.
    """
    p = softmax_with_identical(s_dynamic, s_static)
    d = np.floor(p[..., :2] * units)  # p >= 0, so floor is int() truncation
    return np.concatenate([d, units - d.sum(axis=-1, keepdims=True)], axis=-1)


def pct(count: np.ndarray | float, units: int) -> np.ndarray | float:
    """100 * count / units, unrounded (0 for a layer without units)."""
    return 100.0 * count / max(units, 1)


# --- the point estimate's results ----------------------------------------------------------


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


@dataclass(frozen=True)
class UnitResult:
    dynamic: int
    static: int
    joint: int
    residual: int
    dead: int

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def layer_result(stats: LayerStats, estimator: str = "pooled") -> LayerResult:
    """The layer-wise row of one layer (METHOD.md section 3); percentages rounded to 0.1."""
    units = stats.units
    s_dyn, s_stat = (float(s) for s in layer_scores(stats, estimator))
    d_dyn, d_stat, d_res = (int(d) for d in unit_counts(s_dyn, s_stat, units))
    return LayerResult(
        units=units,
        pairs_dynamic=int(stats.dynamic.weight),
        pairs_static=int(stats.static.weight),
        score_dynamic=s_dyn,
        score_static=s_stat,
        dynamic_units=d_dyn,
        static_units=d_stat,
        residual_units=d_res,
        dynamic_pct=round(pct(d_dyn, units), 1),
        static_pct=round(pct(d_stat, units), 1),
        residual_pct=round(pct(d_res, units), 1),
    )


def unit_result(stats: LayerStats, lam: float = 0.5) -> UnitResult:
    """The unit-wise class counts of one layer at threshold ``lam`` (METHOD.md section 4)."""
    counts = class_counts(*unit_ratios(stats), lam)
    return UnitResult(**{k: int(v) for k, v in counts.items()})
