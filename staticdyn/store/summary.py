"""Per-layer, per-factor moments stored beside the rows (``/summary``).

They let a sweep report, and shards merge their statistics, without reading every feature row
(see staticdyn.metrics.moments, which computes them). Computed once when a run finishes, reading
the rows in chunks so memory stays bounded however many pairs the file holds. This module only
decides where in the file they live.
"""

from __future__ import annotations

import h5py

from staticdyn.metrics.core import FACTOR_NAMES, MOMENT_KEYS, Moments
from staticdyn.metrics.features_file import FeaturesFile
from staticdyn.metrics.moments import CHUNK_ROWS, accumulate_moments

__all__ = ["CHUNK_ROWS", "compute_summary", "read_summary", "write_summary"]


def compute_summary(f: h5py.File) -> dict[str, dict[str, Moments]]:
    """Moments of every stored layer (layers without rows are left out)."""
    src = FeaturesFile(f)
    out: dict[str, dict[str, Moments]] = {}
    for layer, g in f["features"].items():
        if "a" not in g:
            continue
        acc = accumulate_moments(src, layer, CHUNK_ROWS)
        if acc is not None:
            out[layer] = acc
    return out


def write_summary(f: h5py.File, summary: dict[str, dict[str, Moments]]) -> None:
    if "summary" in f:
        del f["summary"]
    root = f.create_group("summary")
    for layer, per_factor in summary.items():
        for factor, m in per_factor.items():
            g = root.create_group(f"{layer}/{factor}")
            g.attrs["n"] = m.n
            for key in MOMENT_KEYS:
                g.create_dataset(key, data=getattr(m, key))


def read_summary(f: h5py.File) -> dict[str, dict[str, Moments]]:
    out: dict[str, dict[str, Moments]] = {}
    for layer, g in f["summary"].items():
        out[layer] = {factor: Moments(int(g[factor].attrs["n"]),
                                      *(g[factor][k][:] for k in MOMENT_KEYS))
                      for factor in FACTOR_NAMES}
    return out
