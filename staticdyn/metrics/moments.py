"""Mergeable per-factor moments: what a shard stores so that shards merge without their rows.

A layer's moments (``core.Moments``: n, sum a, sum b, sum a^2, sum b^2, sum ab per channel and
factor) add across shards, so a sweep can report from them without reading a single feature
row, and merged shards give the same numbers as an unsharded run (to rounding: the point
estimate reads the rows, two-pass). The metrics come from ``core.moment_stats``, the same
formulas as the bootstrap's.
"""

from __future__ import annotations

import numpy as np

from staticdyn.metrics.core import (
    FACTOR_NAMES,
    MOMENT_KEYS,
    LayerResult,
    LayerStats,
    Moments,
    UnitResult,
    layer_result,
    moment_stats,
    split_by_factor,
    unit_result,
)
from staticdyn.metrics.features_file import FeaturesFile

__all__ = ["MOMENT_KEYS", "Moments", "accumulate_moments", "layer_moments",
           "layerwise_from_moments", "unitwise_from_moments"]

CHUNK_ROWS = 4096


def layer_moments(za: np.ndarray, zb: np.ndarray, factor: np.ndarray) -> dict[str, Moments]:
    """Both factors' moments of one layer's rows."""
    parts = split_by_factor(za, zb, factor)
    return {f: Moments.of(*parts[f]) for f in FACTOR_NAMES}


def accumulate_moments(
    src: FeaturesFile, layer: str, chunk_rows: int = CHUNK_ROWS
) -> dict[str, Moments] | None:
    """A layer's moments read ``chunk_rows`` rows at a time (memory bounded); None if no rows.

    The chunking is part of the result's last bits (sums of chunk sums), so every writer of the
    stored summary uses this one function with the same chunk size.
    """
    acc: dict[str, Moments] | None = None
    for lo in range(0, src.n_rows, chunk_rows):
        a, b = src.rows(layer, lo, lo + chunk_rows)
        part = layer_moments(a, b, src.factor[lo:lo + chunk_rows])
        acc = part if acc is None else {k: acc[k] + part[k] for k in acc}
    return acc


def _stats(m: dict[str, Moments]) -> LayerStats:
    return moment_stats(*(m[f].means() for f in FACTOR_NAMES))


def layerwise_from_moments(m: dict[str, Moments], estimator: str = "pooled") -> LayerResult:
    """The layer-wise result from moments alone."""
    return layer_result(_stats(m), estimator)


def unitwise_from_moments(m: dict[str, Moments], lam: float = 0.5) -> UnitResult:
    """The unit-wise class counts from moments alone."""
    return unit_result(_stats(m), lam)
