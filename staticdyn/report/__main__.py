"""``python -m staticdyn.report FEATURES_H5``: re-analyse a features file without the model.

Writes the run's tables, summary.md and figures (optionally bootstrap intervals and the lambda
sweep). ``python -m staticdyn.metrics`` is the same command under its older name.

Input problems (missing file, unknown estimator, unknown layer, a file that is not HDF5) end
with exit code 2 and one line on stderr that names the problem and the valid choices: the user
fixes an argument, a traceback would only hide the message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from staticdyn.errors import StaticDynError
from staticdyn.metrics.core import ESTIMATORS, check_estimator

PROG = "python -m staticdyn.report"
EXIT_USAGE = 2


class UsageError(StaticDynError):
    """An argument the user can fix; printed as one line."""


class _OneLineParser(argparse.ArgumentParser):
    """argparse prints the whole usage block before an error; we want a single line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    p = _OneLineParser(prog=prog, description=(
        "Layer-wise and unit-wise static/dynamic metrics of a features.h5 file "
        "(tables, summary.md and figures)."))
    p.add_argument("features", type=Path, metavar="FEATURES_H5", help="features.h5 of a run")
    p.add_argument("--lambda", dest="lam", type=float, default=0.5,
                   help="unit-wise threshold in [0, 1] (default 0.5)")
    p.add_argument("--estimator", default="pooled",
                   help=f"layer-wise estimator: {' | '.join(ESTIMATORS)} (default pooled)")
    p.add_argument("--out", type=Path, default=None,
                   help="output folder (default: the features file's folder)")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="number of bootstrap resamples for 95%% intervals (default 0: none)")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    p.add_argument("--layers", default=None,
                   help="comma-separated subset of layers (default: every stored layer)")
    p.add_argument("--lambda-sweep", action="store_true",
                   help="also write lambda_sweep.csv/.png (unit classes for lambda 0.1..0.9)")
    p.add_argument("--title", default=None, help="title of summary.md and the figures")
    p.add_argument("--quiet", action="store_true", help="do not print the terminal summary")
    return p


def _validate(args: argparse.Namespace) -> None:
    try:
        check_estimator(args.estimator)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not 0.0 <= args.lam <= 1.0:
        raise UsageError(f"--lambda must be in [0, 1]; got {args.lam}")
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0; got {args.bootstrap}")
    path: Path = args.features
    if not path.exists():
        raise UsageError(f"features file not found: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path} (expected a features.h5 file)")


def _run(args: argparse.Namespace) -> int:
    import h5py

    from staticdyn.metrics.analyze import analyze_h5
    from staticdyn.report.run_report import format_terminal_summary, write_run_report

    layers = [x.strip() for x in args.layers.split(",") if x.strip()] if args.layers else None
    if not h5py.is_hdf5(args.features):
        raise UsageError(f"not an HDF5 file: {args.features}")
    try:
        tables = analyze_h5(args.features, lam=args.lam, estimator=args.estimator, layers=layers)
    except KeyError as exc:  # unknown layer, or a file without /pairs or /features
        raise UsageError(str(exc.args[0]) if exc.args else str(exc)) from exc
    if args.bootstrap:
        from staticdyn.metrics.bootstrap import bootstrap_h5
        from staticdyn.metrics.intervals import attach_intervals

        boot = bootstrap_h5(args.features, n_boot=args.bootstrap, lam=args.lam,
                            estimator=args.estimator, seed=args.seed, layers=layers)
        tables = attach_intervals(tables, boot)
        tables.meta["bootstrap"] = f"{args.bootstrap} resamples, seed {args.seed}, 95% percentile"
    out = args.out if args.out is not None else args.features.parent
    written = write_run_report(tables, out, title=args.title)
    if args.lambda_sweep:
        from staticdyn.report.lambda_sweep import write_lambda_sweep

        written.update(write_lambda_sweep(tables, out))
    if not args.quiet:
        sys.stdout.write(format_terminal_summary(tables))
        sys.stdout.write(f"wrote {len(written)} files to {out}\n")
    return 0


def _fail(prog: str, message: str) -> int:
    one_line = " ".join(message.split())
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Entry point; returns the exit code (0 ok, 2 input problem)."""
    try:
        args = build_parser(prog).parse_args(argv)
        _validate(args)
    except StaticDynError as exc:
        return _fail(prog, str(exc))
    try:
        return _run(args)
    except StaticDynError as exc:
        return _fail(prog, str(exc))
    except (ValueError, OSError) as exc:  # malformed factor labels, NaN features, broken file
        return _fail(prog, f"{args.features}: {exc}")


if __name__ == "__main__":
    sys.exit(main())
