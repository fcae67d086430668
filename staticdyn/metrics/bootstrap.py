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

The formulas from moments to statistics and results are ``core.moment_stats`` and the rest of
``core``; the percentile intervals and the papers' seed protocol are in ``intervals``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.core import (
    FACTOR_NAMES,
    UNIT_CLASSES,
    FactorMeans,
    Moments,
    check_estimator,
    check_pair,
    class_counts,
    layer_scores,
    moment_stats,
    pct,
    split_by_factor,
    unit_counts,
    unit_ratios,
)
from staticdyn.metrics.features_file import open_features
from staticdyn.metrics.intervals import INTERVAL_LAYER_STATS, interval_table, percentile_interval

if TYPE_CHECKING:  # pandas only for the table helpers, never in the numeric core
    import pandas as pd

__all__ = ["DEFAULT_BOOT", "LAYER_STATS", "BootstrapResult", "PreparedLayer", "bootstrap_h5",
           "bootstrap_layer", "default_chunk", "draw_counts", "prepare_layer",
           "resample_counts", "stats_from_weights"]

LAYER_STATS: tuple[str, ...] = (
    "score_dynamic", "score_static", "dynamic_units", "static_units", "residual_units",
    "dynamic_pct", "static_pct", "residual_pct",
)
DEFAULT_BOOT = 1000


@dataclass(frozen=True)
class PreparedLayer:
    """One layer's features, centred and stacked for the moment products.

    ``blocks[f]`` is (n_f, kC) for factor f after subtracting ``center``: k = 3 with
    [a + b, a*a + b*b, a*b], which is all the pooled score and the unit-wise ratios need, or
    k = 5 with [a, b, a*a, b*b, a*b] (``separate``, the order of ``core.Moments``), which the
    per-member Pearson correlation of the ``paper`` estimator needs. The narrower layout makes
    the products 40% cheaper.
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
    check_estimator(estimator)
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


def _weighted_means(prep: PreparedLayer, f: int, w: np.ndarray) -> FactorMeans:
    """Resample weights -> one factor's weighted means: one matrix product for every moment."""
    s = w @ prep.blocks[f]
    c = prep.units
    sums = [s[:, k * c:(k + 1) * c] for k in range(s.shape[1] // c)]
    nw = w.sum(axis=1, keepdims=True)
    if prep.separate:
        return Moments(nw[:, 0], *sums).means()
    return FactorMeans.of_sums(nw, *sums)


def stats_from_weights(
    prep: PreparedLayer, weights: tuple[np.ndarray, np.ndarray], lam: float = 0.5,
    estimator: str = "pooled",
) -> dict[str, np.ndarray]:
    """Every statistic for each row of the weight matrices (one row = one resample).

    Percentages are left unrounded (100 * units / C) so that intervals are not quantised twice;
    ``round(x, 1)`` of them is what ``layerwise`` reports. All-ones weights reproduce the
    full-sample ``layerwise`` and ``unitwise`` results.
    """
    if check_estimator(estimator) == "paper" and not prep.separate:
        raise ValueError("the paper estimator needs prepare_layer(..., estimator='paper')")
    stats = moment_stats(_weighted_means(prep, 0, weights[0]),
                         _weighted_means(prep, 1, weights[1]), prep.center)
    scores = layer_scores(stats, estimator)
    units = unit_counts(scores[:, 0], scores[:, 1], prep.units)
    out = {"score_dynamic": scores[:, 0], "score_static": scores[:, 1]}
    for k, name in enumerate(("dynamic", "static", "residual")):
        out[f"{name}_units"] = units[:, k]
        out[f"{name}_pct"] = pct(units[:, k], prep.units)
    counts = class_counts(*unit_ratios(stats), lam)
    out.update({k: counts[k].astype(float) for k in UNIT_CLASSES})
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
        return interval_table(self.samples, INTERVAL_LAYER_STATS, self.level)

    def unit_intervals(self) -> pd.DataFrame:
        """One row per layer: ``<class>_lo``/``<class>_hi`` unit counts at ``lam``."""
        return interval_table(self.samples, UNIT_CLASSES, self.level)


def bootstrap_h5(
    path: str | Path, n_boot: int = DEFAULT_BOOT, lam: float = 0.5, estimator: str = "pooled",
    seed: int = 0, layers: Sequence[str] | None = None, level: float = 0.95,
    chunk: int | None = None,
) -> BootstrapResult:
    """Bootstrap every layer of a features file, one layer in memory at a time."""
    with open_features(path) as src:
        names = src.select(layers)
        counts = draw_counts(src.factor, n_boot, seed)
        result = BootstrapResult(n_boot, lam, estimator, seed, level)
        for layer in names:
            result.samples[layer] = bootstrap_layer(*src.rows(layer), src.factor, lam=lam,
                                                    estimator=estimator, counts=counts,
                                                    chunk=chunk)
    return result
