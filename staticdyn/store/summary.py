"""Per-layer, per-factor moments stored beside the rows (``/summary``).

They let a sweep report, and shards merge their statistics, without reading every feature row
(see staticdyn.metrics.moments). Computed once when a run finishes, reading the rows in chunks so
memory stays bounded however many pairs the file holds.
"""

from __future__ import annotations

import h5py
import numpy as np

from staticdyn.metrics.factors import FACTOR_NAMES
from staticdyn.metrics.moments import MOMENT_KEYS, Moments

CHUNK_ROWS = 4096


def compute_summary(f: h5py.File) -> dict[str, dict[str, Moments]]:
    n = int(f.attrs["n_rows"])
    factor = f["pairs/factor"][:n].astype(np.int64)
    out: dict[str, dict[str, Moments]] = {}
    for layer, g in f["features"].items():
        if "a" not in g:
            continue
        acc: dict[str, Moments] | None = None
        for lo in range(0, n, CHUNK_ROWS):
            hi = min(n, lo + CHUNK_ROWS)
            a, b, fac = g["a"][lo:hi], g["b"][lo:hi], factor[lo:hi]
            part = {name: Moments.of(a[fac == k], b[fac == k])
                    for k, name in enumerate(FACTOR_NAMES)}
            acc = part if acc is None else {k: acc[k] + part[k] for k in acc}
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
