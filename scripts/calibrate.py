"""Calibration suite (``make calibrate``): train tiny models with a known answer, probe them,
check the orderings, write the table and the figure.

    python scripts/calibrate.py [--fresh] [--docs docs] [--out DIR] [hydra overrides ...]

Exit status 0 when every check holds, 1 otherwise. ``--docs`` copies calibration.md and
calibration.png there (the README shows them). Without ``--fresh`` a re-run reuses the finished
trainings and features in ``--out`` and only redoes the analysis.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from hydra import compose, initialize_config_dir

    from staticdyn.experiments.train_job import run_train

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "outputs" / "experiments" / "calibrate")
    ap.add_argument("--docs", type=Path, default=None, help="copy calibration.{md,png} here")
    ap.add_argument("--fresh", action="store_true", help="delete --out first (full run)")
    ap.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. train.max_steps=300")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    if args.fresh and args.out.exists():
        shutil.rmtree(args.out)
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["+experiment=calibrate", f"out_dir={args.out}",
                                           *args.overrides])
    t0 = time.perf_counter()
    result = run_train(cfg)
    print(f"calibration: {'PASSED' if result['passed'] else 'FAILED'} in "
          f"{(time.perf_counter() - t0) / 60:.1f} min; {result['markdown']}")
    if args.docs:
        args.docs.mkdir(parents=True, exist_ok=True)
        for name in ("calibration.md", "calibration.png"):
            shutil.copy2(args.out / name, args.docs / name)
            print(f"wrote {args.docs / name}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
