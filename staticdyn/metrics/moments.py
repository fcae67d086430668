"""Mergeable per-factor moments, and both metrics computed from them.

Every quantity in METHOD.md sections 3-4 is a function of five per-channel sums per factor
(n, sum a, sum b, sum a^2, sum b^2, sum ab). Sums add across shards, so each shard stores its
moments and a sweep can report from them without reading a single feature row; merged shards
give the same numbers as an unsharded run. Computed in float64; the formulas are the same
expectations as in ``factors.py``, expanded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from staticdyn.metrics.factors import DEAD_RTOL, FACTOR_NAMES, split_by_factor
from staticdyn.metrics.layerwise import LayerResult, units_from_scores
from staticdyn.metrics.unitwise import UnitResult, classify_units, count_classes

MOMENT_KEYS: tuple[str, ...] = ("sum_a", "sum_b", "sum_aa", "sum_bb", "sum_ab")


@dataclass
class Moments:
    """Sums of one factor's pairs, per channel."""

    n: int
    sum_a: np.ndarray
    sum_b: np.ndarray
    sum_aa: np.ndarray
    sum_bb: np.ndarray
    sum_ab: np.ndarray

    @classmethod
    def of(cls, za: np.ndarray, zb: np.ndarray) -> Moments:
        a = np.asarray(za, np.float64)
        b = np.asarray(zb, np.float64)
        return cls(a.shape[0], a.sum(0), b.sum(0), (a * a).sum(0), (b * b).sum(0), (a * b).sum(0))

    def __add__(self, other: Moments) -> Moments:
        return Moments(self.n + other.n, *(getattr(self, k) + getattr(other, k)
                                           for k in MOMENT_KEYS))

    def stats(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(mu, cross, var, mean_sq) as in factors.FactorStats."""
        n = max(self.n, 1)
        mu = (self.sum_a + self.sum_b) / (2 * n)
        cross = self.sum_ab / n - mu * (self.sum_a + self.sum_b) / n + mu**2
        mean_sq = (self.sum_aa + self.sum_bb) / (2 * n)
        var = np.maximum(mean_sq - mu**2, 0.0)
        return mu, cross, var, mean_sq


def layer_moments(za: np.ndarray, zb: np.ndarray, factor: np.ndarray) -> dict[str, Moments]:
    parts = split_by_factor(za, zb, factor)
    return {f: Moments.of(*parts[f]) for f in FACTOR_NAMES}


def layerwise_from_moments(m: dict[str, Moments]) -> LayerResult:
    """The pooled layer-wise result from moments alone."""
    n_total = sum(m[f].n for f in FACTOR_NAMES)
    units = m[FACTOR_NAMES[0]].sum_a.shape[0]
    s1 = sum(m[f].sum_a + m[f].sum_b for f in FACTOR_NAMES)
    s2 = sum(m[f].sum_aa + m[f].sum_bb for f in FACTOR_NAMES)
    rows = 2 * max(n_total, 1)
    v = float(np.maximum(s2 / rows - (s1 / rows) ** 2, 0.0).sum())
    scores = []
    for f in FACTOR_NAMES:
        cross = m[f].stats()[1]
        scores.append(float(cross.sum() / v) if v > 0 and m[f].n else 0.0)
    d_dyn, d_stat, d_res = units_from_scores(scores[0], scores[1], units)

    def pct(d: int) -> float:
        return round(100.0 * d / units, 1) if units else 0.0

    return LayerResult(units, m["dynamic"].n, m["static"].n, scores[0], scores[1], d_dyn, d_stat,
                       d_res, pct(d_dyn), pct(d_stat), pct(d_res))


def unitwise_from_moments(m: dict[str, Moments], lam: float = 0.5) -> UnitResult:
    r, dead = [], None
    for f in FACTOR_NAMES:
        _, cross, var, mean_sq = m[f].stats()
        d = ~(var > DEAD_RTOL * np.maximum(mean_sq, np.finfo(np.float64).tiny))
        dead = d if dead is None else dead | d
        r.append((cross, var))
    assert dead is not None
    rr = [np.where(dead, 0.0, c / np.where(dead, 1.0, v)) for c, v in r]
    return count_classes(classify_units(rr[0], rr[1], dead, lam))
