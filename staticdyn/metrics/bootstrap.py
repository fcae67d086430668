"""Bootstrap confidence intervals for the layer-wise and unit-wise metrics. numpy only.

Why a bootstrap: a run measures ~3000 pairs once; the percentages move when other pairs are
drawn, and a sweep figure without that spread invites reading noise as an effect.

How, and why that way:
- Pairs are resampled with replacement *within each factor* (stratified), so every resample has
  the run's dynamic/static pair counts, like the run itself.
- A resample is a count vector w over the pairs of a factor. Every metric of METHOD.md sections
  3-4 is a function of five per-channel weighted sums, sum w*a, sum w*b, sum w*a^2, sum w*b^2 and
  sum w*a*b (for the default pooled estimator only three: sum w*(a+b), sum w*(a^2+b^2), sum w*ab),
  so one matrix product W @ [moment columns] (W: resamples x pairs) gives them for a whole chunk
  of resamples at once, instead of materialising every resampled feature matrix.
- Moments taken around zero cancel catastrophically when a channel's mean is large against its
  spread (E[x^2] - E[x]^2). The features are therefore centred per channel by the full-sample
  mean first. That changes no metric: the cross-covariance C_f, the variances var_f and V and the
  Pearson correlation are all central moments, unchanged when the same constant is added to a
  channel of za and zb (both factors). The one quantity that is not shift-invariant, the "dead"
  test (variance against the raw mean square), gets the centre added back.
- Every layer of a file uses the same resample counts, so layer-to-layer differences within a
  resample are paired, as they are in the point estimate.

The seed protocol of the papers (mean and 1.96 * std / sqrt(n) over seeds) is ``seed_interval``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.factors import DEAD_RTOL, FACTOR_NAMES, check_pair, split_by_factor
from staticdyn.metrics.layerwise import ESTIMATORS
from staticdyn.metrics.unitwise import UNIT_CLASSES

if TYPE_CHECKING:  # pandas only for the table helpers, never in the numeric core
    import pandas as pd

    from staticdyn.metrics.analyze import RunTables

LAYER_STATS: tuple[str, ...] = (
    "score_dynamic", "score_static", "dynamic_units", "static_units", "residual_units",
    "dynamic_pct", "static_pct", "residual_pct",
)
INTERVAL_LAYER_STATS: tuple[str, ...] = (
    "score_dynamic", "score_static", "dynamic_pct", "static_pct", "residual_pct",
)
DEFAULT_BOOT = 1000
_TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True)
class PreparedLayer:
    """One layer's features, centred and stacked for the moment products.

    ``blocks[f]`` is (n_f, kC) for factor f after subtracting ``center``: k = 3 with
    [a + b, a*a + b*b, a*b], which is all the pooled score and the unit-wise ratios need, or
    k = 5 with [a, b, a*a, b*b, a*b] (``separate``), which the per-member Pearson correlation of
    the ``paper`` estimator needs. The narrower layout makes the products 40% cheaper.
    """

    units: int
    center: np.ndarray
    blocks: tuple[np.ndarray, np.ndarray]
    separate: bool

    @property
    def n_pairs(self) -> tuple[int, int]:
        return self.blocks[0].shape[0], self.blocks[1].shape[0]


def prepare_layer(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, estimator: str = "pooled"
) -> PreparedLayer:
    """Centre by the per-channel mean of all rows of za and zb, then stack the moment blocks."""
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator '{estimator}'. Valid choices: {', '.join(ESTIMATORS)}")
    za, zb = check_pair(za, zb)
    c = za.shape[1]
    center = (za.mean(axis=0) + zb.mean(axis=0)) / 2.0 if za.shape[0] else np.zeros(c)
    parts = split_by_factor(za, zb, factor)
    separate = estimator == "paper"
    blocks = []
    for name in FACTOR_NAMES:
        a, b = parts[name][0] - center, parts[name][1] - center
        cols = [a, b, a * a, b * b] if separate else [a + b, a * a + b * b]
        blocks.append(np.concatenate([*cols, a * b], axis=1))
    return PreparedLayer(c, center, (blocks[0], blocks[1]), separate)


def resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """(n_boot, n) float64: how often each of n pairs is drawn in each resample of size n."""
    if n == 0:
        return np.zeros((n_boot, 0))
    idx = rng.integers(0, n, size=(n_boot, n)) + (np.arange(n_boot) * n)[:, None]
    return np.bincount(idx.ravel(), minlength=n_boot * n).reshape(n_boot, n).astype(np.float64)


def draw_counts(
    factor: np.ndarray, n_boot: int, seed: int | np.random.Generator = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified resample counts (dynamic, static) for a run's factor labels."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    factor = np.asarray(factor)
    return (resample_counts(int((factor == 0).sum()), n_boot, rng),
            resample_counts(int((factor == 1).sum()), n_boot, rng))


@dataclass(frozen=True)
class _FactorMoments:
    """Per-resample statistics of one factor, each (b, C); see factors.FactorStats."""

    cross: np.ndarray
    var: np.ndarray
    dead: np.ndarray
    corr: np.ndarray
    sum_z: np.ndarray  # sum of w*(a + b), centred: feeds the total variance V
    sum_zz: np.ndarray  # sum of w*(a^2 + b^2), centred
    weight: np.ndarray  # (b, 1) total weight (pairs in the resample)


def _factor_moments(prep: PreparedLayer, f: int, w: np.ndarray) -> _FactorMoments:
    block, center = prep.blocks[f], prep.center
    b_rows, c = w.shape[0], center.shape[0]
    if block.shape[0] == 0:
        zeros = np.zeros((b_rows, c))
        nan = np.full((b_rows, c), np.nan)
        return _FactorMoments(zeros, zeros, np.ones((b_rows, c), bool), nan, zeros, zeros,
                              np.zeros((b_rows, 1)))
    s = w @ block
    nw = w.sum(axis=1, keepdims=True)
    e = [s[:, k * c:(k + 1) * c] / nw for k in range(s.shape[1] // c)]
    if prep.separate:
        ea, eb, eaa, ebb, eab = e
        e_sum, e_sq = ea + eb, eaa + ebb
    else:
        e_sum, e_sq, eab = e
    mu = e_sum / 2.0
    cross = eab - mu * mu
    var = np.maximum(e_sq / 2.0 - mu * mu, 0.0)
    mean_sq = var + (mu + center) ** 2  # raw mean square: the dead test is not shift-invariant
    dead = ~(var > DEAD_RTOL * np.maximum(mean_sq, _TINY))
    corr = np.full_like(cross, np.nan)
    if prep.separate:
        va = np.maximum(eaa - ea * ea, 0.0)
        vb = np.maximum(ebb - eb * eb, 0.0)
        ok = (va > DEAD_RTOL * np.maximum(va + (ea + center) ** 2, _TINY)) & (
            vb > DEAD_RTOL * np.maximum(vb + (eb + center) ** 2, _TINY))
        denom = np.sqrt(np.where(ok, va * vb, 1.0))
        corr = np.where(ok, (eab - ea * eb) / denom, np.nan)
    return _FactorMoments(cross, var, dead, corr, e_sum * nw, e_sq * nw, nw)


def _scores(m: tuple[_FactorMoments, _FactorMoments], estimator: str) -> np.ndarray:
    """(b, 2) scores (dynamic, static) per resample, as layerwise.layer_scores."""
    out = np.zeros((m[0].cross.shape[0], 2))
    if estimator == "pooled":
        nz = 2.0 * (m[0].weight + m[1].weight)  # rows of [za; zb]
        safe = np.where(nz > 0, nz, 1.0)
        ez = (m[0].sum_z + m[1].sum_z) / safe
        ezz = (m[0].sum_zz + m[1].sum_zz) / safe
        v = (ezz - ez * ez).sum(axis=1)
        good = v > 0
        for k in range(2):
            has = m[k].weight[:, 0] > 0
            out[:, k] = np.where(good & has, m[k].cross.sum(axis=1) / np.where(good, v, 1.0), 0.0)
        return out
    for k in range(2):
        finite = np.isfinite(m[k].corr)
        cnt = finite.sum(axis=1)
        tot = np.where(finite, m[k].corr, 0.0).sum(axis=1)
        out[:, k] = np.where(cnt > 0, tot / np.maximum(cnt, 1), 0.0)
    return out


def _units(scores: np.ndarray, units: int) -> np.ndarray:
    """(b, 3) unit counts (dynamic, static, residual) by softmax with identical and truncation."""
    s = np.concatenate([scores, np.ones((scores.shape[0], 1))], axis=1)
    e = np.exp(s - s.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    d = np.floor(p[:, :2] * units)  # p >= 0, so floor is int() truncation
    return np.concatenate([d, units - d.sum(axis=1, keepdims=True)], axis=1)


def stats_from_weights(
    prep: PreparedLayer, weights: tuple[np.ndarray, np.ndarray], lam: float = 0.5,
    estimator: str = "pooled",
) -> dict[str, np.ndarray]:
    """Every statistic for each row of the weight matrices (one row = one resample).

    Percentages are left unrounded (100 * units / C) so that intervals are not quantised twice;
    ``round(x, 1)`` of them is what ``layerwise`` reports. All-ones weights reproduce the
    full-sample ``layerwise`` and ``unitwise`` results.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator '{estimator}'. Valid choices: {', '.join(ESTIMATORS)}")
    if estimator == "paper" and not prep.separate:
        raise ValueError("the paper estimator needs prepare_layer(..., estimator='paper')")
    m = (_factor_moments(prep, 0, weights[0]), _factor_moments(prep, 1, weights[1]))
    scores = _scores(m, estimator)
    units = _units(scores, prep.units)
    out = {"score_dynamic": scores[:, 0], "score_static": scores[:, 1]}
    c = max(prep.units, 1)
    for k, name in enumerate(("dynamic", "static", "residual")):
        out[f"{name}_units"] = units[:, k]
        out[f"{name}_pct"] = 100.0 * units[:, k] / c
    dead = m[0].dead | m[1].dead
    r = [np.where(dead, 0.0, mk.cross / np.where(dead, 1.0, mk.var)) for mk in m]
    hi_d, hi_s = (r[0] > lam) & ~dead, (r[1] > lam) & ~dead
    out["dynamic"] = (hi_d & ~hi_s).sum(axis=1).astype(float)
    out["static"] = (hi_s & ~hi_d).sum(axis=1).astype(float)
    out["joint"] = (hi_d & hi_s).sum(axis=1).astype(float)
    out["dead"] = dead.sum(axis=1).astype(float)
    out["residual"] = prep.units - out["dynamic"] - out["static"] - out["joint"] - out["dead"]
    return out


def default_chunk(units: int) -> int:
    """Resamples per matrix product: keeps the ~25 live (chunk, C) float64 arrays near 200 MB."""
    return int(max(8, 2**20 // max(units, 1)))


def bootstrap_layer(
    za: np.ndarray, zb: np.ndarray, factor: np.ndarray, n_boot: int = DEFAULT_BOOT,
    lam: float = 0.5, estimator: str = "pooled", seed: int = 0,
    counts: tuple[np.ndarray, np.ndarray] | None = None, chunk: int | None = None,
) -> dict[str, np.ndarray]:
    """Bootstrap samples (one value per resample) of every statistic of one layer.

    ``counts`` (from ``draw_counts``) lets several layers share the same resamples; otherwise
    they are drawn from ``seed``. The samples do not depend on ``chunk``.
    """
    prep = prepare_layer(za, zb, factor, estimator)
    if counts is None:
        counts = draw_counts(factor, n_boot, seed)
    n_boot = counts[0].shape[0]
    chunk = chunk or default_chunk(prep.units)
    pieces: list[dict[str, np.ndarray]] = []
    for start in range(0, n_boot, chunk):
        sl = slice(start, min(start + chunk, n_boot))
        pieces.append(stats_from_weights(prep, (counts[0][sl], counts[1][sl]), lam, estimator))
    return {k: np.concatenate([p[k] for p in pieces]) for k in pieces[0]} if pieces else {}


def percentile_interval(samples: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval: the (1-level)/2 and (1+level)/2 quantiles of the samples."""
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(np.asarray(samples, float), [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def seed_interval(
    values: Sequence[float] | np.ndarray, axis: int = 0, ddof: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The papers' seed protocol: (mean, half-width 1.96 * std / sqrt(n)) over seeds.

    ``ddof=0`` is numpy's default std, which the authors' numpy scripts use; pass ``ddof=1``
    for the sample standard deviation. One seed gives a half-width of 0 with ddof 0.
    """
    v = np.asarray(values, dtype=np.float64)
    n = v.shape[axis]
    mean = v.mean(axis=axis)
    if n - ddof <= 0:
        return mean, np.full_like(mean, np.nan)
    return mean, 1.96 * v.std(axis=axis, ddof=ddof) / np.sqrt(n)


@dataclass
class BootstrapResult:
    """Bootstrap samples of every layer of a run, and their percentile intervals."""

    n_boot: int
    lam: float
    estimator: str
    seed: int
    level: float = 0.95
    samples: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # layer -> stat

    def interval(self, layer: str, stat: str) -> tuple[float, float]:
        return percentile_interval(self.samples[layer][stat], self.level)

    def layer_intervals(self) -> pd.DataFrame:
        """One row per layer: ``<stat>_lo``/``<stat>_hi`` for scores and percentages."""
        import pandas as pd

        rows = []
        for layer in self.samples:
            row: dict[str, object] = {"layer": layer}
            for stat in INTERVAL_LAYER_STATS:
                lo, hi = self.interval(layer, stat)
                digits = 1 if stat.endswith("_pct") else 6
                row[f"{stat}_lo"], row[f"{stat}_hi"] = round(lo, digits), round(hi, digits)
            rows.append(row)
        return pd.DataFrame(rows)

    def unit_intervals(self) -> pd.DataFrame:
        """One row per layer: ``<class>_lo``/``<class>_hi`` unit counts at ``lam``."""
        import pandas as pd

        rows = []
        for layer in self.samples:
            row: dict[str, object] = {"layer": layer}
            for cls in UNIT_CLASSES:
                lo, hi = self.interval(layer, cls)
                row[f"{cls}_lo"], row[f"{cls}_hi"] = round(lo, 1), round(hi, 1)
            rows.append(row)
        return pd.DataFrame(rows)


def bootstrap_h5(
    path: str | Path, n_boot: int = DEFAULT_BOOT, lam: float = 0.5, estimator: str = "pooled",
    seed: int = 0, layers: Sequence[str] | None = None, level: float = 0.95,
    chunk: int | None = None,
) -> BootstrapResult:
    """Bootstrap every layer of a features file, one layer in memory at a time."""
    import h5py

    from staticdyn.metrics.analyze import layer_names, read_layer

    with h5py.File(path, "r") as f:
        n = int(f.attrs.get("n_rows", f["pairs"]["factor"].shape[0]))
        factor = f["pairs"]["factor"][:n].astype(np.int64)
        names = list(layers) if layers else layer_names(f)
        counts = draw_counts(factor, n_boot, seed)
        result = BootstrapResult(n_boot, lam, estimator, seed, level)
        for layer in names:
            za, zb = read_layer(f, layer)
            result.samples[layer] = bootstrap_layer(za, zb, factor, lam=lam, estimator=estimator,
                                                    counts=counts, chunk=chunk)
    return result


def attach_intervals(tables: RunTables, boot: BootstrapResult) -> RunTables:
    """A copy of the run tables with ``_lo``/``_hi`` columns appended (merged on layer)."""
    lw = tables.layerwise.merge(boot.layer_intervals(), on="layer", how="left", sort=False)
    uw = tables.unitwise.merge(boot.unit_intervals(), on="layer", how="left", sort=False)
    meta = dict(tables.meta)
    meta.update({"bootstrap_n": boot.n_boot, "bootstrap_seed": boot.seed,
                 "bootstrap_level": boot.level})
    return replace(tables, layerwise=lw, unitwise=uw, meta=meta)
