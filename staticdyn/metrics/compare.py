"""Two runs compared: per layer, the difference of each statistic with a 95% bootstrap interval
and a two-sided p-value. numpy only (pandas for the table).

Why paired when possible: two models probed on the same pair list see the same clips, so most
of the pair-to-pair spread is shared; resampling the pair indices jointly (one count vector for
both runs) cancels it and gives a much narrower interval for the difference. That is only valid
when the rows are the same pairs, which is checked from the files themselves (``same_pairs``):
every /pairs dataset equal, and the same data set, sampler and probe seed. Otherwise the two
runs are resampled independently (unpaired), each stratified by factor.

The p-value inverts the percentile interval: p = 2 * min(P*(d <= 0), P*(d >= 0)) over the
bootstrap differences d, with the usual +1 so that it is never exactly 0 with B resamples.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from staticdyn.metrics.bootstrap import DEFAULT_BOOT, bootstrap_layer, draw_counts
from staticdyn.metrics.core import UNIT_CLASSES
from staticdyn.metrics.estimable import (
    IncompleteRunError,
    is_complete,
    layer_note,
)
from staticdyn.metrics.features_file import FeaturesFile, open_features
from staticdyn.metrics.intervals import pairs_needed, percentile_interval

if TYPE_CHECKING:
    import pandas as pd

COMPARE_STATS: tuple[str, ...] = ("dynamic_pct", "static_pct", "residual_pct", *UNIT_CLASSES)
COMPARE_COLUMNS: list[str] = [
    "layer", "stat", "a", "b", "diff", "diff_lo", "diff_hi", "p_value", "estimable", "note",
]
_IDENTITY_ATTRS = ("dataset", "sampler", "identity.probe.seed")


def same_pairs(a: FeaturesFile, b: FeaturesFile) -> tuple[bool, str]:
    """Whether the two files' rows are the same pairs, and why (said in the output)."""
    ma, mb = a.meta(), b.meta()
    for key in _IDENTITY_ATTRS:
        if key not in ma or key not in mb:
            return False, f"{key} not recorded in both files"
        if ma.get(key) != mb.get(key):
            return False, f"{key} differs ({ma.get(key)} vs {mb.get(key)})"
    if a.n_rows != b.n_rows:
        return False, f"pair counts differ ({a.n_rows} vs {b.n_rows})"
    ga, gb = a.f["pairs"], b.f["pairs"]
    if set(ga.keys()) != set(gb.keys()):
        return False, "the /pairs datasets differ"
    for key in ga.keys():
        if not np.array_equal(ga[key][: a.n_rows], gb[key][: b.n_rows]):
            return False, f"/pairs/{key} differs"
    return True, "same pair list (/pairs equal; same data set, sampler and seed)"


def p_two_sided(d: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'difference = 0' from the bootstrap differences."""
    d = np.asarray(d, float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    n = d.size
    tail = min((1 + int((d <= 0).sum())) / (n + 1), (1 + int((d >= 0).sum())) / (n + 1))
    return float(min(1.0, 2.0 * tail))


@dataclass
class Comparison:
    """The comparison table (long: one row per layer and statistic) and how it was made."""

    paired: bool
    reason: str
    n_boot: int
    seed: int
    n_pairs: tuple[int, int]
    table: pd.DataFrame
    pairs_needed: dict[str, float] = field(default_factory=dict)  # layer -> pairs per run

    @property
    def design(self) -> str:
        kind = "paired" if self.paired else "unpaired"
        return f"{kind} bootstrap, {self.n_boot} resamples, seed {self.seed}: {self.reason}"


def _full(n: int) -> np.ndarray:
    return np.ones((1, n))


def _check_complete(src: FeaturesFile, allow_incomplete: bool) -> None:
    meta = src.meta()
    if not is_complete(meta) and not allow_incomplete:
        raise IncompleteRunError(src.path, src.n_rows, meta.get("n_pairs_total", "?"))


def common_layers(a: FeaturesFile, b: FeaturesFile, layers: list[str] | None) -> list[str]:
    """The requested layers (checked in both files), else every layer the two files share."""
    if layers:
        a.select(layers)
        b.select(layers)
        return list(layers)
    shared = [x for x in a.layer_names if x in b.layer_names]
    if not shared:
        raise KeyError(f"{a.path} and {b.path} share no layer ({', '.join(a.layer_names)} vs "
                       f"{', '.join(b.layer_names)}); pick one with --layer")
    return shared


def compare_h5(
    path_a: str | Path, path_b: str | Path, layers: list[str] | None = None,
    n_boot: int = DEFAULT_BOOT, seed: int = 0, lam: float = 0.5, estimator: str = "pooled",
    level: float = 0.95, half_width: float = 2.0, allow_incomplete: bool = False,
    paired: bool | None = None,
) -> Comparison:
    """Run A minus run B, per layer and statistic (``COMPARE_STATS``), with intervals.

    ``paired=None`` decides from the files (``same_pairs``); ``True`` is refused when the
    files are not the same pairs. ``pairs_needed`` is, per layer, the pairs per run for a
    half-width of ``half_width`` percentage points on the dynamic and static % differences.
    """
    import pandas as pd

    if n_boot < 1:
        raise ValueError(f"compare needs bootstrap resamples (>= 1); got {n_boot}")
    rows: list[dict[str, object]] = []
    needed: dict[str, float] = {}
    with open_features(path_a) as fa, open_features(path_b) as fb:
        _check_complete(fa, allow_incomplete)
        _check_complete(fb, allow_incomplete)
        names = common_layers(fa, fb, layers)
        same, reason = same_pairs(fa, fb)
        if paired and not same:
            raise ValueError(f"a paired comparison needs the same pair list: {reason}")
        use_paired = same if paired is None else bool(paired)
        if not use_paired and same:
            reason = "unpaired by request (" + reason + ")"
        rng = np.random.default_rng(seed)
        counts_a = draw_counts(fa.factor, n_boot, rng)
        counts_b = counts_a if use_paired else draw_counts(fb.factor, n_boot, rng)
        for layer in names:
            rows_a, rows_b = fa.rows(layer), fb.rows(layer)
            point = []
            samples = []
            notes = []
            for src, (za, zb), counts in ((fa, rows_a, counts_a), (fb, rows_b, counts_b)):
                n0, n1 = int((src.factor == 0).sum()), int((src.factor == 1).sum())
                p = bootstrap_layer(za, zb, src.factor, lam=lam, estimator=estimator,
                                    counts=(_full(n0), _full(n1)))
                point.append({k: float(v[0]) for k, v in p.items()})
                samples.append(bootstrap_layer(za, zb, src.factor, lam=lam,
                                               estimator=estimator, counts=counts))
                notes.append(layer_note(n0, n1, za.shape[1], int(point[-1]["dead"])))
            note = "; ".join(f"{tag}: {n}" for tag, n in zip("AB", notes, strict=True) if n)
            ok = not note
            partial = [f"{tag}: partial ({src.n_rows} pairs)" for tag, src in (("A", fa), ("B", fb))
                       if not is_complete(src.meta())]
            note = "; ".join([note, *partial]) if note else "; ".join(partial)
            halves = []
            for stat in COMPARE_STATS:
                d = samples[0][stat] - samples[1][stat]
                lo, hi = percentile_interval(d, level) if ok else (np.nan, np.nan)
                rows.append({"layer": layer, "stat": stat,
                             "a": point[0][stat] if ok else np.nan,
                             "b": point[1][stat] if ok else np.nan,
                             "diff": point[0][stat] - point[1][stat] if ok else np.nan,
                             "diff_lo": lo, "diff_hi": hi,
                             "p_value": p_two_sided(d) if ok else np.nan,
                             "estimable": ok, "note": note})
                if stat in ("dynamic_pct", "static_pct"):
                    halves.append((hi - lo) / 2.0)
            n_run = min(fa.n_rows, fb.n_rows)
            needed[layer] = float(np.max([pairs_needed(h, n_run, half_width) for h in halves]))
        n_pairs = (fa.n_rows, fb.n_rows)
    table = pd.DataFrame(rows, columns=COMPARE_COLUMNS)
    return Comparison(use_paired, reason, n_boot, seed, n_pairs, table, needed)
