"""Collect every run under a sweep directory into tidy tables and draw the papers' figures.

Usage: python scripts/make_figures.py SWEEP_DIR [--out DIR] [--bootstrap B] [--only fig3_left,...]

Writes layerwise_all / unitwise_all (CSV, Markdown, LaTeX), layerwise_seeds.csv,
runs_status.csv and the figures (PNG + PDF) into --out (default SWEEP_DIR/paper), and prints
every run that is incomplete, failed or a duplicate: nothing is dropped without a line.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from staticdyn.report.aggregate import collect_runs, format_status, write_sweep_tables
from staticdyn.report.paper_figures import BUILDERS, FigureInputs, build_paper_figures


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR")
    p.add_argument("--out", type=Path, default=None, help="output folder (default SWEEP_DIR/paper)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap resamples for runs whose CSVs lack intervals (default 0)")
    p.add_argument("--no-analyze", action="store_true",
                   help="do not compute tables for finished runs that only have features.h5")
    p.add_argument("--only", default=None,
                   help=f"comma-separated subset of: {', '.join(BUILDERS)}")
    p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.sweep_dir.is_dir():
        print(f"make_figures: error: not a directory: {args.sweep_dir}", file=sys.stderr)
        return 2
    only = [x.strip() for x in args.only.split(",")] if args.only else None
    unknown = [x for x in only or [] if x not in BUILDERS]
    if unknown:
        print(f"make_figures: error: unknown figures {unknown}. Valid choices: "
              f"{', '.join(BUILDERS)}", file=sys.stderr)
        return 2
    out = args.out or args.sweep_dir / "paper"
    sweep = collect_runs(args.sweep_dir, analyze_missing=not args.no_analyze,
                         n_boot=args.bootstrap)
    sys.stdout.write(format_status(sweep))
    tables = write_sweep_tables(sweep, out)
    formats = tuple(x.strip() for x in args.formats.split(",") if x.strip())
    figures = build_paper_figures(FigureInputs.from_sweep(sweep, out, formats), only)
    for name, paths in figures.items():
        print(f"{name}: " + (", ".join(p.name for p in paths) if paths else "skipped (see log)"))
    print(f"wrote {len(tables)} tables and {sum(map(len, figures.values()))} figure files to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
