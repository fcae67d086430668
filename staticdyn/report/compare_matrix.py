"""A sweep's comparison matrix: for one layer across models, every pairwise difference in
dynamic % (or another statistic) with a 95% bootstrap interval and a two-sided p-value.

The same design as ``report compare`` (``metrics.compare``): runs whose files show the same
pair list (``same_pairs``: same data set, sampler, seed and /pairs) share one set of resample
counts, so their differences are paired; other pairs of runs are resampled independently. Each
run is bootstrapped once (M runs: M bootstraps, not M^2), and every cell is the difference of
two runs' bootstrap samples. ``layer="last"`` takes each run's last probed layer, so models
whose stages are named differently (stage4, stage5, block11) can still be set side by side.

Written to the sweep report as ``compare_matrix_<layer>.csv`` (long: one row per pair of runs)
and ``.md`` (a square table, row minus column).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from staticdyn.errors import StaticDynError
from staticdyn.metrics.bootstrap import DEFAULT_BOOT, bootstrap_layer, draw_counts
from staticdyn.metrics.compare import COMPARE_STATS, p_two_sided, same_pairs
from staticdyn.metrics.estimable import IncompleteRunError, is_complete, layer_note
from staticdyn.metrics.features_file import open_features
from staticdyn.metrics.intervals import percentile_interval
from staticdyn.report.tables import write_csv

log = logging.getLogger("staticdyn.report")

LAST = "last"
MATRIX_COLUMNS: list[str] = [
    "a", "b", "layer_a", "layer_b", "stat", "value_a", "value_b", "diff", "diff_lo", "diff_hi",
    "p_value", "paired", "estimable", "note",
]


@dataclass
class _Run:
    label: str
    path: Path
    layer: str
    point: float
    samples: np.ndarray
    pair_class: int
    note: str = ""


@dataclass
class MatrixResult:
    table: pd.DataFrame
    labels: list[str]
    left_out: list[str] = field(default_factory=list)  # "label: why"
    n_boot: int = DEFAULT_BOOT
    seed: int = 0


def _full(n: int) -> np.ndarray:
    return np.ones((1, n))


def compare_matrix(
    runs: Sequence[tuple[str, str | Path]], layer: str = LAST, stat: str = "dynamic_pct",
    n_boot: int = DEFAULT_BOOT, seed: int = 0, lam: float | Sequence[float] = 0.5,
    estimator: str | Sequence[str] = "pooled", level: float = 0.95,
    allow_incomplete: bool = False,
) -> MatrixResult:
    """Pairwise ``stat`` differences (row run minus column run) of ``runs`` ((label,
    features.h5) in order) at ``layer`` (a name every run has, or ``last``).

    ``lam``/``estimator``: one value, or one per run (each run analysed as it was). A run
    without the layer is left out and named in ``left_out``."""
    if stat not in COMPARE_STATS:
        raise ValueError(f"unknown statistic '{stat}'. Valid: {', '.join(COMPARE_STATS)}")
    if n_boot < 1:
        raise ValueError(f"a comparison matrix needs bootstrap resamples (>= 1); got {n_boot}")
    lams = [float(lam)] * len(runs) if isinstance(lam, int | float) else [float(x) for x in lam]
    ests = [estimator] * len(runs) if isinstance(estimator, str) else list(estimator)
    rng = np.random.default_rng(seed)
    done: list[_Run] = []
    classes: list[tuple[Path, tuple[np.ndarray, np.ndarray]]] = []  # representative, counts
    left_out: list[str] = []
    for (label, path), lam_i, est_i in zip(runs, lams, ests, strict=True):
        path = Path(path)
        with open_features(path) as f:
            if not is_complete(f.meta()) and not allow_incomplete:
                raise IncompleteRunError(path, f.n_rows, f.meta().get("n_pairs_total", "?"))
            name = f.layer_names[-1] if layer == LAST else layer
            if name not in f.layer_names:
                left_out.append(f"{label}: no layer '{layer}' ({', '.join(f.layer_names)})")
                continue
            cls = None
            for k, (rep, _) in enumerate(classes):
                with open_features(rep) as g:
                    if same_pairs(f, g)[0]:
                        cls = k
                        break
            if cls is None:
                classes.append((path, draw_counts(f.factor, n_boot, rng)))
                cls = len(classes) - 1
            za, zb = f.rows(name)
            n0, n1 = int((f.factor == 0).sum()), int((f.factor == 1).sum())
            point = bootstrap_layer(za, zb, f.factor, lam=lam_i, estimator=est_i,
                                    counts=(_full(n0), _full(n1)))
            samples = bootstrap_layer(za, zb, f.factor, lam=lam_i, estimator=est_i,
                                      counts=classes[cls][1])
            note = layer_note(n0, n1, za.shape[1], int(point["dead"][0]))
            done.append(_Run(label, path, name, float(point[stat][0]), samples[stat], cls, note))
    rows = []
    for i, a in enumerate(done):
        for b in done[i + 1:]:
            note = "; ".join(f"{r.label}: {r.note}" for r in (a, b) if r.note)
            ok = not note
            d = a.samples - b.samples
            lo, hi = percentile_interval(d, level) if ok else (np.nan, np.nan)
            rows.append({"a": a.label, "b": b.label, "layer_a": a.layer, "layer_b": b.layer,
                         "stat": stat, "value_a": a.point if ok else np.nan,
                         "value_b": b.point if ok else np.nan,
                         "diff": a.point - b.point if ok else np.nan, "diff_lo": lo,
                         "diff_hi": hi, "p_value": p_two_sided(d) if ok else np.nan,
                         "paired": a.pair_class == b.pair_class, "estimable": ok,
                         "note": note})
    return MatrixResult(pd.DataFrame(rows, columns=MATRIX_COLUMNS), [r.label for r in done],
                        left_out, n_boot, seed)


def matrix_markdown(result: MatrixResult, digits: int = 1) -> str:
    """The square view: cell (row, column) = row minus column, ``diff [lo, hi]``, with the
    p-value; the diagonal blank, the lower triangle the negated upper one."""
    labels = result.labels
    cells = {lab: {other: "" for other in labels} for lab in labels}
    for r in result.table.itertuples(index=False):
        if not r.estimable:
            cells[r.a][r.b] = cells[r.b][r.a] = "not estimable"
            continue
        mark = "" if r.paired else " (unpaired)"
        cells[r.a][r.b] = (f"{r.diff:+.{digits}f} [{r.diff_lo:+.{digits}f}, "
                           f"{r.diff_hi:+.{digits}f}] p={r.p_value:.3g}{mark}")
        cells[r.b][r.a] = (f"{-r.diff:+.{digits}f} [{-r.diff_hi:+.{digits}f}, "
                           f"{-r.diff_lo:+.{digits}f}] p={r.p_value:.3g}{mark}")
    head = ["row minus column", *labels]
    esc = [h.replace("|", r"\|") for h in head]
    lines = ["| " + " | ".join(esc) + " |", "| " + " | ".join([":---"] * len(head)) + " |"]
    for lab in labels:
        row = [lab, *[cells[lab][o] or "" for o in labels]]
        lines.append("| " + " | ".join(c.replace("|", r"\|") for c in row) + " |")
    layers = sorted({*result.table["layer_a"], *result.table["layer_b"]}) or ["-"]
    stat = result.table["stat"].iloc[0] if len(result.table) else "dynamic_pct"
    foot = [f"\n{stat} differences at {', '.join(layers)}; 95% bootstrap intervals, "
            f"{result.n_boot} resamples (seed {result.seed}), paired where the runs share "
            "their pair list, two-sided p-values (not corrected for multiple comparisons)."]
    foot += [f"Left out: {why}" for why in result.left_out]
    return "\n".join(lines) + "\n" + "\n".join(foot) + "\n"


def run_labels(runs: pd.DataFrame) -> list[str]:
    """A unique label per run: the model, with dataset and seed added only where needed."""
    base = runs["model"].astype(str).tolist()
    out = []
    for i, r in enumerate(runs.to_dict("records")):
        label = base[i]
        if base.count(label) > 1:
            label = f"{label} ({r.get('dataset', '')}, seed {r.get('seed', '')})"
        out.append(label)
    seen: dict[str, int] = {}
    for i, lab in enumerate(out):  # still equal (same model, data set and seed): number them
        seen[lab] = seen.get(lab, 0) + 1
        if out.count(lab) > 1:
            out[i] = f"{lab} #{seen[lab]}"
    return out


def write_compare_matrix(layerwise: pd.DataFrame, out_dir: str | Path, layer: str = LAST,
                         stat: str = "dynamic_pct", n_boot: int = DEFAULT_BOOT, seed: int = 0
                         ) -> dict[str, Path]:
    """``compare_matrix_<layer>.csv/.md`` for the kept runs of a sweep (``layerwise_all``)
    that have a features.h5; {} when fewer than two runs have a features.h5, a one-line
    ``StaticDynError`` when fewer than two have the layer."""
    out_dir = Path(out_dir)
    if layerwise.empty:
        return {}
    cols = [c for c in ("model", "dataset", "seed", "run_dir", "lambda", "estimator")
            if c in layerwise.columns]
    runs = layerwise[cols].drop_duplicates("run_dir").reset_index(drop=True)
    has = [(Path(str(d)) / "features.h5").is_file() for d in runs["run_dir"]]
    runs = runs[has].reset_index(drop=True)
    if len(runs) < 2:
        log.info("compare_matrix: skipped (%d runs with features.h5, need 2)", len(runs))
        return {}
    lams = [float(x) if str(x) not in ("", "nan", "None") else 0.5
            for x in runs.get("lambda", pd.Series([0.5] * len(runs)))]
    ests = [str(x) if str(x) not in ("", "nan", "None") else "pooled"
            for x in runs.get("estimator", pd.Series(["pooled"] * len(runs)))]
    result = compare_matrix(list(zip(run_labels(runs), [Path(str(d)) / "features.h5"
                                                        for d in runs["run_dir"]], strict=True)),
                            layer, stat, n_boot, seed, lams, ests)
    for why in result.left_out:
        log.warning("compare_matrix: left out %s", why)
    if len(result.labels) < 2:  # asked for by name: say so rather than write nothing
        raise StaticDynError(f"--compare-layer {layer}: {len(result.labels)} of {len(runs)} "
                             f"runs have it, need 2 ({'; '.join(result.left_out[:3])})")
    stem = out_dir / f"compare_matrix_{layer.replace('/', '_')}"
    written = {f"{stem.name}.csv": write_csv(result.table, stem.with_suffix(".csv"))}
    md = stem.with_suffix(".md")
    md.write_text(matrix_markdown(result))
    written[md.name] = md
    return written
