"""Planted features whose metric values are computed by hand in the tests.

Eight pairs per factor. u alternates +1/-1; w is u with its first two entries flipped, so
corr(u, w) = cross(u, w) / var = (6 - 2) / 8 = 0.5 exactly; -u gives -1; u itself gives 1.
Every channel has mean 0 and variance 1 except the dead one (constant 3).
"""

from __future__ import annotations

import numpy as np

U = np.array([1, -1, 1, -1, 1, -1, 1, -1], dtype=np.float64)
W = np.array([-1, 1, 1, -1, 1, -1, 1, -1], dtype=np.float64)
CONST = np.full(8, 3.0)

# channel: (dynamic pair (a, b), static pair (a, b))
CHANNELS = {
    "dynamic": ((U, U), (U, -U)),
    "static": ((U, -U), (U, U)),
    "joint": ((U, U), (U, U)),
    "residual": ((U, -U), (U, -U)),
    "dead": ((CONST, CONST), (CONST, CONST)),
    "tie": ((U, W), (U, -U)),  # r_dynamic exactly 0.5, r_static -1
}


def planted() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """za, zb (16 x 6) and factor (8 dynamic rows, then 8 static rows)."""
    cols_a, cols_b = [], []
    for (da, db), (sa, sb) in CHANNELS.values():
        cols_a.append(np.concatenate([da, sa]))
        cols_b.append(np.concatenate([db, sb]))
    za = np.stack(cols_a, axis=1).astype(np.float32)
    zb = np.stack(cols_b, axis=1).astype(np.float32)
    factor = np.array([0] * 8 + [1] * 8, dtype=np.int8)
    return za, zb, factor
