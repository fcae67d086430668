"""When a number may be reported at all: the not-estimable rules. numpy/pandas only.

A metric computed from nothing still prints as a number (a factor with one pair gives a static
% of 12-23, a layer of constant units 18.8 / 18.8 / 62.5 %), and a reader cannot tell it from a
measurement. So every per-layer row carries ``estimable`` and a ``note`` naming the reason, and
the numbers of a row that is not estimable are blank (NaN), never a default.

Rules (one place, used by the run tables, the bootstrap intervals and ``compare``):
- a factor with fewer than ``MIN_FACTOR_PAIRS`` pairs: no variance, no correlation;
- a dead layer: every unit constant over the pairs;
- an incomplete file (``complete`` attribute false, a killed run) is refused by the readers
  unless the caller allows it; then every row keeps its numbers with the note ``partial``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from staticdyn.errors import StaticDynError

MIN_FACTOR_PAIRS = 2
ESTIMABLE_COLUMNS: list[str] = ["estimable", "note"]


class IncompleteRunError(StaticDynError):
    """A features file of a run that did not finish: its numbers are not the run's result."""

    def __init__(self, path: object, n_rows: int, total: object) -> None:
        super().__init__(
            f"{path} is incomplete ({n_rows} of {total} pairs; the run was stopped before it "
            "finished): rerun the same command to resume it, or pass --allow-incomplete to "
            "analyse the pairs so far")


def is_complete(attrs: dict[str, str]) -> bool:
    """The file's ``complete`` marker (text, as ``FeaturesFile.meta`` gives it); absent = old
    files written before the marker, which were only ever written whole."""
    return attrs.get("complete", "True") in ("True", "1", "true")


def layer_note(pairs_dynamic: int, pairs_static: int, units: int, dead: int) -> str:
    """'' when the layer's numbers are estimable, else the reason, in words."""
    short = [f"{n} {name} pair{'s' if n != 1 else ''}"
             for name, n in (("dynamic", pairs_dynamic), ("static", pairs_static))
             if n < MIN_FACTOR_PAIRS]
    if short:
        return f"not estimable: {' and '.join(short)} (need >= {MIN_FACTOR_PAIRS} per factor)"
    if units > 0 and dead >= units:
        return "not estimable: dead layer (every unit constant)"
    if units == 0:
        return "not estimable: no units"
    return ""


def blank_rows(df: pd.DataFrame, mask: np.ndarray, columns: list[str]) -> pd.DataFrame:
    """``columns`` set to missing on the rows of ``mask``; integer columns become nullable
    integers, so the estimable rows still print as integers (no '12.0')."""
    if not mask.any():
        return df
    df = df.copy()
    for c in columns:
        if c not in df.columns:
            continue
        if pd.api.types.is_integer_dtype(df[c]):
            df[c] = df[c].astype("Int64")
            df.loc[mask, c] = pd.NA
        else:
            df[c] = df[c].astype(float)
            df.loc[mask, c] = np.nan
    return df
