"""``python -m staticdyn.report FEATURES_H5``: re-analyse a features file without the model.

Writes the run's tables, summary.md and figures with 95% bootstrap intervals (``--bootstrap 0``:
none), optionally the lambda sweep, and prints the pairs needed for an interval half-width.
``python -m staticdyn.report compare RUN_A RUN_B`` compares two runs (``report.compare``).
``python -m staticdyn.metrics`` is the same command under its older name.

Exit codes: 0 ok; 2 an input problem (one line on stderr); 3 the tables were written but some
layer is not estimable (too few pairs of a factor, a dead layer), unless ``--allow-incomplete``,
which also lets an incomplete (killed) run's file be analysed, marked partial.

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
EXIT_NOT_ESTIMABLE = 3


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
    add_interval_args(p)
    p.add_argument("--layers", default=None,
                   help="comma-separated subset of layers (default: every stored layer)")
    p.add_argument("--lambda-sweep", action="store_true",
                   help="also write lambda_sweep.csv/.png (unit classes for lambda 0.1..0.9)")
    p.add_argument("--title", default=None, help="title of summary.md and the figures")
    p.add_argument("--quiet", action="store_true", help="do not print the terminal summary")
    return p


def add_interval_args(p: argparse.ArgumentParser) -> None:
    """The options the report and ``compare`` share: bootstrap, seed, half-width, partial."""
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples for the 95%% intervals (default 1000; 0: none)")
    p.add_argument("--seed", type=int, default=None,
                   help="bootstrap seed (default: the run's probe seed, else 0)")
    p.add_argument("--half-width", type=float, default=2.0, metavar="PP",
                   help="target interval half-width in percentage points for the pairs-needed "
                        "estimate (default 2.0)")
    p.add_argument("--allow-incomplete", action="store_true",
                   help="analyse an incomplete (killed) run's file, and exit 0 even when a "
                        "layer is not estimable")


def resolve_features(path: Path) -> Path:
    """A run directory or a features file -> the features file (UsageError if neither)."""
    if path.is_dir():
        path = path / "features.h5"
    if not path.exists():
        raise UsageError(f"features file not found: {path}")
    if not path.is_file():
        raise UsageError(f"not a file: {path} (expected a features.h5 file)")
    return path


def file_seed(path: Path) -> int:
    """The run's probe seed from the file (the bootstrap default, so reruns are identical)."""
    import h5py

    with h5py.File(path, "r") as f:
        value = f.attrs.get("identity.probe.seed", f.attrs.get("seed", 0))
    value = value.decode() if isinstance(value, bytes) else value
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def check_analysis_args(args: argparse.Namespace) -> None:
    """The options the report and ``compare`` share: estimator, lambda, half-width."""
    try:
        check_estimator(args.estimator)
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    if not 0.0 <= args.lam <= 1.0:
        raise UsageError(f"--lambda must be in [0, 1]; got {args.lam}")
    if args.half_width <= 0:
        raise UsageError(f"--half-width must be > 0; got {args.half_width}")


def _validate(args: argparse.Namespace) -> None:
    check_analysis_args(args)
    if args.bootstrap < 0:
        raise UsageError(f"--bootstrap must be >= 0; got {args.bootstrap}")
    args.features = resolve_features(args.features)


def _run(args: argparse.Namespace) -> int:
    import h5py

    from staticdyn.metrics.analyze import analyze_with_intervals
    from staticdyn.report.run_report import format_terminal_summary, write_run_report

    layers = [x.strip() for x in args.layers.split(",") if x.strip()] if args.layers else None
    if not h5py.is_hdf5(args.features):
        raise UsageError(f"not an HDF5 file: {args.features}")
    seed = file_seed(args.features) if args.seed is None else args.seed
    try:
        tables = analyze_with_intervals(
            args.features, lam=args.lam, estimator=args.estimator, layers=layers,
            n_boot=args.bootstrap, seed=seed, allow_incomplete=args.allow_incomplete)
    except KeyError as exc:  # unknown layer, or a file without /pairs or /features
        raise UsageError(str(exc.args[0]) if exc.args else str(exc)) from exc
    out = args.out if args.out is not None else args.features.parent
    written = write_run_report(tables, out, title=args.title)
    if args.lambda_sweep:
        from staticdyn.report.lambda_sweep import write_lambda_sweep

        written.update(write_lambda_sweep(tables, out))
    if not args.quiet:
        sys.stdout.write(format_terminal_summary(tables, half_width=args.half_width))
        sys.stdout.write(f"wrote {len(written)} files to {out}\n")
    not_estimable = [str(x) for x, ok in zip(tables.layerwise["layer"],
                                             tables.layerwise["estimable"], strict=True) if not ok]
    if not_estimable and not args.allow_incomplete:
        print(f"{prog_of(args)}: not estimable: layers {', '.join(not_estimable)} (see the note "
              "column; --allow-incomplete to exit 0)", file=sys.stderr)
        return EXIT_NOT_ESTIMABLE
    return 0


def prog_of(args: argparse.Namespace) -> str:
    return getattr(args, "prog", PROG)


def _fail(prog: str, message: str) -> int:
    one_line = " ".join(message.split())
    print(f"{prog}: error: {one_line}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    """Entry point; returns the exit code (0 ok, 2 input problem, 3 not estimable)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["compare"]:
        from staticdyn.report.compare import main as compare_main

        return compare_main(argv[1:], prog=f"{prog} compare")
    try:
        args = build_parser(prog).parse_args(argv)
        args.prog = prog
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
