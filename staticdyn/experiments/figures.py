"""The one entry for tables and figures: from sweep folders, or end to end as a smoke run.

    python -m staticdyn.experiments.figures SWEEP_DIR [SWEEP_DIR ...] [--out DIR] [--only ...]
    python -m staticdyn.experiments.figures --smoke [--out DIR] [--experiments fig3,fig4,...]

With folders: reads every run under them (any sweep: ``run.py -m ...`` multiruns, or the paper
experiments under ``paper_runs/<experiment>/``), makes the centre-bias maps the Table 1 / Fig. 7
runs ask for, writes layerwise_all / unitwise_all (CSV, Markdown, LaTeX), layerwise_seeds.csv
and runs_status.csv, and draws every figure whose inputs exist; the others are listed as
skipped, with the reason, and every run that is incomplete, failed or a duplicate gets a line.
Output goes to --out (default ``<first SWEEP_DIR>/paper``). Runs with a behaviour.csv
(``probe.behaviour=true``) also give behaviour_vs_dynamic (report/behaviour.py);
``--compare-layer LAYER`` adds compare_matrix_<LAYER> (report/compare_matrix.py).

With --smoke: runs every paper experiment on the built-in synthetic data with tiny sizes (CPU,
a few minutes), draws every figure and exits 1 unless all of them were written. --out is the
smoke's folder (default ``outputs/paper_smoke``), figures in ``<out>/paper``. See
docs/paper_figures.md.
"""

from __future__ import annotations

import argparse
import logging
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from staticdyn.errors import StaticDynError, UnknownChoiceError

PROG = "figures"
SMOKE_MARKER = ".paper_smoke"
DEFAULT_SMOKE_DIR = Path("outputs/paper_smoke")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog=f"python -m staticdyn.experiments.{PROG}",
                                description=__doc__.splitlines()[0])
    p.add_argument("sweep_dirs", nargs="*", type=Path, metavar="SWEEP_DIR",
                   help="folders holding the runs (one or more)")
    p.add_argument("--smoke", action="store_true",
                   help="run every paper experiment on synthetic data with tiny sizes, then draw")
    p.add_argument("--out", type=Path, default=None, help="output folder (see above)")
    p.add_argument("--experiments", default=None,
                   help="--smoke only: a comma-separated subset of the paper experiments")
    p.add_argument("--only", default=None, help="a comma-separated subset of the figures")
    p.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples for runs whose tables lack intervals (default "
                        "1000; 0: use the intervals the runs wrote, none where they lack them)")
    p.add_argument("--no-analyze", action="store_true",
                   help="do not compute tables for finished runs that only have features.h5")
    p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    p.add_argument("--compare-layer", default=None, metavar="LAYER",
                   help="also write compare_matrix_<LAYER>.csv/.md: pairwise differences in "
                        "dynamic %% between the runs at LAYER ('last': each run's last layer)")
    return p.parse_args(argv)


def _names(text: str | None) -> list[str] | None:
    return [x.strip() for x in text.split(",") if x.strip()] if text else None


def from_folders(args: argparse.Namespace) -> int:
    """Tables and figures of the runs under ``args.sweep_dirs``."""
    from staticdyn.experiments.center_bias import ensure_center_bias
    from staticdyn.experiments.collect import collect_many
    from staticdyn.report.aggregate import format_status, write_sweep_tables
    from staticdyn.report.behaviour import write_behaviour_report
    from staticdyn.report.compare_matrix import write_compare_matrix
    from staticdyn.report.paper_figures import BUILDERS, FigureInputs, build_paper_figures

    dirs: list[Path] = args.sweep_dirs
    if not dirs:
        raise StaticDynError("no SWEEP_DIR given: name the folder(s) holding the runs, "
                             "or pass --smoke")
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        raise StaticDynError(f"not a directory: {', '.join(missing)}")
    only = _names(args.only)
    for name in only or []:
        if name not in BUILDERS:
            raise UnknownChoiceError("figure", name, BUILDERS)
    out = args.out or dirs[0] / "paper"
    for d in dirs:
        ensure_center_bias(d)
    formats = tuple(_names(args.formats) or ())
    # Several folders: their side files (shuffle CSVs, centre-bias maps) are gathered in a
    # temporary folder for the figure builders, which look for them under one root.
    with tempfile.TemporaryDirectory(prefix="paper_inputs_") as staging:
        sweep = collect_many(dirs, Path(staging) / "inputs", n_boot=args.bootstrap,
                             analyze_missing=not args.no_analyze)
        if sweep.status.empty and sweep.layerwise.empty:  # never 7 empty tables
            raise StaticDynError(f"no runs found under {', '.join(map(str, dirs))} (a run is a "
                                 "folder with features.h5 or layerwise.csv)")
        sys.stdout.write(format_status(sweep))
        tables = write_sweep_tables(sweep, out)
        tables.update(write_behaviour_report(sweep.layerwise, out, formats, args.bootstrap))
        if args.compare_layer:
            tables.update(write_compare_matrix(sweep.layerwise, out, args.compare_layer,
                                               n_boot=args.bootstrap or 1000))
        drawn = build_paper_figures(FigureInputs.from_sweep(sweep, out, formats), only)
    for name, paths in drawn.items():
        print(f"{name}: " + (", ".join(p.name for p in paths) if paths
                             else "skipped (inputs missing, see the log line above)"))
    print(f"wrote {len(tables)} tables and {sum(map(len, drawn.values()))} figure files to {out}")
    return 0


def _fresh_smoke_dir(path: Path) -> None:
    """Start the smoke from an empty folder, but never delete a folder it did not create."""
    if path.exists() and any(path.iterdir()):
        if not (path / SMOKE_MARKER).is_file():
            raise StaticDynError(f"{path} exists and is not a smoke folder (no {SMOKE_MARKER}); "
                                 "choose another --out")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / SMOKE_MARKER).write_text(f"written by python -m staticdyn.experiments.{PROG} "
                                     "--smoke\n")


def smoke(args: argparse.Namespace) -> int:
    """Every paper experiment end to end on synthetic data; 1 unless every figure was drawn."""
    from staticdyn.experiments.catalog import paper_experiments
    from staticdyn.experiments.smoke import format_smoke, run_smoke

    if args.sweep_dirs:
        raise StaticDynError("--smoke makes its own runs: give its folder with --out, "
                             "not SWEEP_DIR")
    paper_dir = args.out or DEFAULT_SMOKE_DIR
    names = _names(args.experiments)
    catalog = paper_experiments()
    for name in names or []:
        if name not in catalog:
            raise UnknownChoiceError("experiment", name, catalog)
    _fresh_smoke_dir(paper_dir)
    result = run_smoke(paper_dir, experiments=names)
    print(format_smoke(result))
    if not result.ok:
        problems = [f"{len(result.failed_jobs)} failed jobs"] * bool(result.failed_jobs)
        problems += [f"missing {', '.join(result.missing_figures)}"] * bool(
            result.missing_figures)
        print(f"{PROG}: smoke FAILED: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"smoke ok: every expected figure ({len(result.expected)}) written to "
          f"{result.out_dir}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("staticdyn", "staticdyn.train"):  # per-job chatter; failures still show
        logging.getLogger(noisy).setLevel(logging.ERROR if args.smoke else logging.INFO)
    t0 = time.perf_counter()
    try:
        code = smoke(args) if args.smoke else from_folders(args)
    except StaticDynError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(f"{PROG}: {time.perf_counter() - t0:.0f} s wall, "
          f"{use.ru_utime + use.ru_stime:.0f} s CPU")
    return code


if __name__ == "__main__":
    sys.exit(main())
