"""Behaviour of a classifier under the probe's manipulations: top-1 per condition, the relative
drop against the original clips, and 95% bootstrap intervals. numpy only (pandas for the table).

Why this sits beside the representation measure: a model whose last stage encodes motion should
also *need* motion to classify, so its accuracy should fall when the frame order is destroyed
(shuffled clips) and survive when appearance is destroyed but motion kept (appearance-free
renders). The forward passes live in ``staticdyn.probe.behaviour``; this module only turns the
per-clip correct/incorrect vectors into the table.

The conditions are measured on the same clips, so the bootstrap resamples clip indices jointly
(one count vector for every condition): the drop's interval then reflects how the clips differ,
not the noise of two independent samples. A relative drop needs some correct original clips;
with none (top-1 0 %) it is not estimable and its cells are blank, with a note.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.bootstrap import resample_counts
from staticdyn.metrics.compare import p_two_sided
from staticdyn.metrics.intervals import percentile_interval

if TYPE_CHECKING:
    import pandas as pd

ORIGINAL = "original"
#: The conditions of ``behaviour.csv``, in row order; the first is the reference of the drops.
CONDITIONS: tuple[str, ...] = (ORIGINAL, "shuffled", "appearance_free")
BEHAVIOUR_COLUMNS: list[str] = [
    "model", "dataset", "condition", "n_clips", "n_correct", "top1", "top1_lo", "top1_hi",
    "relative_drop", "relative_drop_lo", "relative_drop_hi", "p_value", "chance_top1",
    "n_boot", "estimable", "note",
]


def relative_drop(acc_original: np.ndarray | float, acc: np.ndarray | float) -> np.ndarray:
    """100 * (original - condition) / original: the share of the original accuracy lost
    (0: all kept, 100: all lost, negative: gained); NaN where the original is 0."""
    o = np.asarray(acc_original, float)
    a = np.asarray(acc, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(o > 0, 100.0 * (o - a) / np.where(o > 0, o, 1.0), np.nan)


def _check(correct: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    if ORIGINAL not in correct:
        raise ValueError(f"behaviour needs the '{ORIGINAL}' condition; got {list(correct)}")
    out = {k: np.asarray(v, dtype=bool).reshape(-1) for k, v in correct.items()}
    sizes = {k: v.size for k, v in out.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"every condition needs the same clips; clip counts {sizes}")
    return out


def behaviour_table(
    correct: Mapping[str, np.ndarray], n_boot: int = 1000, seed: int = 0,
    num_classes: int | None = None, model: str = "", dataset: str = "", level: float = 0.95,
) -> pd.DataFrame:
    """One row per condition (``correct[condition]``: bool per clip, the same clips in every
    condition, ``original`` among them) with ``BEHAVIOUR_COLUMNS``.

    ``n_boot`` = 0 leaves the interval and p-value cells blank. ``p_value`` tests "no drop"
    (two-sided, from the paired bootstrap drops; blank for the original row).
    """
    import pandas as pd

    if n_boot < 0:
        raise ValueError(f"n_boot must be >= 0; got {n_boot}")
    hits = _check(correct)
    n = hits[ORIGINAL].size
    counts = resample_counts(n, n_boot, np.random.default_rng(seed)) if n_boot and n else None
    acc = {k: 100.0 * v.mean() if n else np.nan for k, v in hits.items()}
    samples = {k: 100.0 * (counts @ v.astype(float)) / n for k, v in hits.items()} \
        if counts is not None else {}
    chance = 100.0 / num_classes if num_classes else np.nan
    order = [c for c in CONDITIONS if c in hits] + [c for c in hits if c not in CONDITIONS]
    rows = []
    for cond in order:
        note = ""
        if n == 0:
            note = "no labelled clip could be read"
        elif acc[ORIGINAL] == 0:
            note = "top-1 on the original clips is 0: the relative drop is undefined"
        ok = not note
        lo = hi = drop_lo = drop_hi = p = np.nan
        if samples and n:
            lo, hi = percentile_interval(samples[cond], level)
        drop = float(relative_drop(acc[ORIGINAL], acc[cond])) if ok else np.nan
        if ok and samples:
            d = relative_drop(samples[ORIGINAL], samples[cond])
            d = d[np.isfinite(d)]
            if d.size:
                drop_lo, drop_hi = percentile_interval(d, level)
                p = p_two_sided(d) if cond != ORIGINAL else np.nan
        rows.append({"model": model, "dataset": dataset, "condition": cond, "n_clips": n,
                     "n_correct": int(hits[cond].sum()), "top1": acc[cond], "top1_lo": lo,
                     "top1_hi": hi, "relative_drop": drop, "relative_drop_lo": drop_lo,
                     "relative_drop_hi": drop_hi, "p_value": p, "chance_top1": chance,
                     "n_boot": int(n_boot), "estimable": ok, "note": note})
    return pd.DataFrame(rows, columns=BEHAVIOUR_COLUMNS)
