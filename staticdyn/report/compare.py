"""``python -m staticdyn.report compare RUN_A RUN_B``: is run A different from run B, per layer?

Prints, per layer, A, B and A - B for the dynamic, static and residual % and every unit-class
count, each difference with a 95% bootstrap interval and a two-sided p-value, says whether the
bootstrap was paired (same pair list, checked from the files) or not, and the pairs per run a
chosen interval half-width would need. ``--out DIR`` also writes ``compare.csv``. The numbers
come from ``staticdyn.metrics.compare``; this module only parses, prints and writes.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from staticdyn.errors import StaticDynError
from staticdyn.metrics.core import ESTIMATORS
from staticdyn.report.tables import to_fixed_width, write_csv

COMPARE_CSV = "compare.csv"
_DIGITS = {"dynamic_pct": 1, "static_pct": 1, "residual_pct": 1}


def build_parser(prog: str) -> argparse.ArgumentParser:
    from staticdyn.report.__main__ import _OneLineParser, add_interval_args

    p = _OneLineParser(prog=prog, description=(
        "Difference between two runs per layer (A - B) with 95%% bootstrap intervals and "
        "two-sided p-values; paired when both runs used the same pair list."))
    p.add_argument("run_a", type=Path, metavar="RUN_A", help="run directory or features.h5")
    p.add_argument("run_b", type=Path, metavar="RUN_B", help="run directory or features.h5")
    p.add_argument("--layer", default=None,
                   help="comma-separated layers (default: every layer both runs have)")
    p.add_argument("--lambda", dest="lam", type=float, default=0.5,
                   help="unit-wise threshold in [0, 1] (default 0.5)")
    p.add_argument("--estimator", default="pooled",
                   help=f"layer-wise estimator: {' | '.join(ESTIMATORS)} (default pooled)")
    p.add_argument("--unpaired", action="store_true",
                   help="resample the two runs independently even when their pairs are the same")
    p.add_argument("--out", type=Path, default=None, help="also write compare.csv here")
    add_interval_args(p)
    return p


def format_comparison(cmp: object, target: float) -> str:
    """The terminal view: design line, one fixed-width table, pairs-needed line, notes."""
    from staticdyn.metrics.compare import Comparison

    assert isinstance(cmp, Comparison)
    t = cmp.table
    view = pd.DataFrame({"layer": t["layer"], "stat": t["stat"]})
    cells: dict[str, list[str]] = {"A": [], "B": [], "A-B [95% CI]": [], "p": []}
    for r in t.itertuples():
        d = _DIGITS.get(str(r.stat), 0)
        if not r.estimable:
            for k in cells:
                cells[k].append("n/a")
            continue
        cells["A"].append(f"{r.a:.{d}f}")
        cells["B"].append(f"{r.b:.{d}f}")
        cells["A-B [95% CI]"].append(f"{r.diff:+.{d}f} [{r.diff_lo:+.{d}f}, {r.diff_hi:+.{d}f}]")
        cells["p"].append(f"{r.p_value:.3f}")
    for k, v in cells.items():
        view[k] = v
    lines = [f"A - B, {cmp.design}",
             f"pairs: A {cmp.n_pairs[0]}, B {cmp.n_pairs[1]}",
             to_fixed_width(view).rstrip("\n")]
    need = [f"{layer} {int(n)}" if n == n else f"{layer} n/a"
            for layer, n in cmp.pairs_needed.items()]
    lines.append(f"pairs per run needed for a 95% half-width of {target:g} pp on the dynamic/"
                 f"static % difference (width ~ 1/sqrt(N)): {', '.join(need)}")
    notes = sorted({f"- {r.layer}: {r.note}" for r in t.itertuples() if r.note})
    return "\n".join(lines + notes) + "\n"


def _run(args: argparse.Namespace, prog: str) -> int:
    from staticdyn.metrics.compare import compare_h5
    from staticdyn.report.__main__ import (
        EXIT_NOT_ESTIMABLE,
        check_analysis_args,
        file_seed,
        resolve_features,
    )

    check_analysis_args(args)
    if args.bootstrap < 1:
        raise StaticDynError(f"compare needs --bootstrap >= 1; got {args.bootstrap}")
    a, b = resolve_features(args.run_a), resolve_features(args.run_b)
    layers = [x.strip() for x in args.layer.split(",") if x.strip()] if args.layer else None
    seed = file_seed(a) if args.seed is None else args.seed
    try:
        cmp = compare_h5(a, b, layers=layers, n_boot=args.bootstrap, seed=seed, lam=args.lam,
                         estimator=args.estimator, half_width=args.half_width,
                         allow_incomplete=args.allow_incomplete,
                         paired=False if args.unpaired else None)
    except KeyError as exc:
        raise StaticDynError(str(exc.args[0]) if exc.args else str(exc)) from exc
    sys.stdout.write(format_comparison(cmp, args.half_width))
    if args.out is not None:
        path = write_csv(cmp.table.assign(paired=cmp.paired), Path(args.out) / COMPARE_CSV)
        sys.stdout.write(f"wrote {path}\n")
    if not cmp.table["estimable"].all() and not args.allow_incomplete:
        print(f"{prog}: not estimable: some layers (see the notes; --allow-incomplete to exit 0)",
              file=sys.stderr)
        return EXIT_NOT_ESTIMABLE
    return 0


def main(argv: Sequence[str] | None = None, prog: str = "python -m staticdyn.report compare"
         ) -> int:
    """Entry point of the subcommand; exit codes as the report's (0, 2, 3)."""
    from staticdyn.report.__main__ import _fail

    try:
        args = build_parser(prog).parse_args(argv)
        return _run(args, prog)
    except StaticDynError as exc:
        return _fail(prog, str(exc))
    except (ValueError, OSError) as exc:
        return _fail(prog, str(exc))
