"""The paper's figures and tables from the experiment sweeps, or the whole chain as a smoke run.

    python scripts/paper_figures.py [SWEEP_DIR ...] [--out DIR] [--bootstrap B]
    python scripts/paper_figures.py --smoke [--out DIR] [--experiments fig3,fig4,...]

Without --smoke: reads the runs of the experiments (``python run.py -m +experiment=fig3 ...``
writes them under ``paper_runs/<experiment>/``; default SWEEP_DIR is ``paper_runs``), makes the
centre-bias maps the Table 1 / Fig. 7 runs ask for, and draws every figure whose inputs exist;
the others are listed as skipped, with the reason. Tables and figures go to --out (default
``<first SWEEP_DIR>/paper``).

With --smoke: runs every experiment on the built-in synthetic data with tiny sizes (CPU, a few
minutes), draws every figure and exits 1 unless all of them were written. --out is the smoke's
folder (default ``outputs/paper_smoke``), figures in ``<out>/paper``. See docs/paper_figures.md.
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

from staticdyn.experiments.paper import (
    EXPERIMENTS,
    collect_many,
    ensure_center_bias,
    format_smoke,
    run_smoke,
)

SMOKE_MARKER = ".paper_smoke"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("sweep_dirs", nargs="*", type=Path, metavar="SWEEP_DIR",
                   help="folders holding the experiments' runs (default: paper_runs)")
    p.add_argument("--smoke", action="store_true",
                   help="run every experiment on synthetic data with tiny sizes, then draw")
    p.add_argument("--out", type=Path, default=None, help="output folder (see above)")
    p.add_argument("--experiments", default=None,
                   help=f"--smoke only: a subset of {', '.join(EXPERIMENTS)}")
    p.add_argument("--bootstrap", type=int, default=0, metavar="B",
                   help="bootstrap resamples for runs whose tables lack intervals (default 0)")
    p.add_argument("--formats", default="png,pdf", help="figure formats (default png,pdf)")
    return p.parse_args(argv)


def _fresh_smoke_dir(path: Path) -> None:
    """Start the smoke from an empty folder, but never delete a folder it did not create."""
    if path.exists() and any(path.iterdir()):
        if not (path / SMOKE_MARKER).is_file():
            raise SystemExit(f"paper_figures: error: {path} exists and is not a smoke folder "
                             f"(no {SMOKE_MARKER}); choose another --out")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    (path / SMOKE_MARKER).write_text("written by scripts/paper_figures.py --smoke\n")


def smoke(args: argparse.Namespace) -> int:
    paper_dir = args.out or Path("outputs/paper_smoke")
    names = [x.strip() for x in args.experiments.split(",")] if args.experiments else None
    unknown = [n for n in names or [] if n not in EXPERIMENTS]
    if unknown:
        print(f"paper_figures: error: unknown experiments {unknown}. Valid choices: "
              f"{', '.join(EXPERIMENTS)}", file=sys.stderr)
        return 2
    _fresh_smoke_dir(paper_dir)
    result = run_smoke(paper_dir, experiments=names)
    print(format_smoke(result))
    if not result.ok:
        print("paper_figures: smoke FAILED: "
              + "; ".join([f"{len(result.failed_jobs)} failed jobs"] * bool(result.failed_jobs)
                          + [f"missing {', '.join(result.missing_figures)}"]
                          * bool(result.missing_figures)), file=sys.stderr)
        return 1
    print(f"smoke ok: every expected figure ({len(result.expected)}) written to "
          f"{result.out_dir}")
    return 0


def figures(args: argparse.Namespace) -> int:
    from staticdyn.report.aggregate import format_status, write_sweep_tables
    from staticdyn.report.paper_figures import FigureInputs, build_paper_figures

    dirs = args.sweep_dirs or [Path("paper_runs")]
    missing = [d for d in dirs if not d.is_dir()]
    if missing:
        print(f"paper_figures: error: not a directory: {', '.join(map(str, missing))}",
              file=sys.stderr)
        return 2
    out = args.out or dirs[0] / "paper"
    for d in dirs:
        ensure_center_bias(d)
    formats = tuple(x.strip() for x in args.formats.split(",") if x.strip())
    # Several folders: their side files (shuffle CSVs, centre-bias maps) are gathered in a
    # temporary folder for the figure builders, which look for them under one root.
    with tempfile.TemporaryDirectory(prefix="paper_inputs_") as staging:
        sweep = collect_many(dirs, Path(staging) / "inputs", n_boot=args.bootstrap)
        sys.stdout.write(format_status(sweep))
        tables = write_sweep_tables(sweep, out)
        drawn = build_paper_figures(FigureInputs.from_sweep(sweep, out, formats))
    for name, paths in drawn.items():
        print(f"{name}: " + (", ".join(p.name for p in paths) if paths
                             else "skipped (inputs missing, see the log line above)"))
    print(f"wrote {len(tables)} tables and {sum(map(len, drawn.values()))} figure files to {out}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for noisy in ("staticdyn", "staticdyn.train"):  # per-job chatter; failures still show
        logging.getLogger(noisy).setLevel(logging.ERROR if args.smoke else logging.INFO)
    t0 = time.perf_counter()
    code = smoke(args) if args.smoke else figures(args)
    use = resource.getrusage(resource.RUSAGE_SELF)
    print(f"paper_figures: {time.perf_counter() - t0:.0f} s wall, "
          f"{use.ru_utime + use.ru_stime:.0f} s CPU")
    return code


if __name__ == "__main__":
    sys.exit(main())
