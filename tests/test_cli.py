"""The real command line on a tiny config: outputs, listing layers, bad choices."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd

from staticdyn.metrics.analyze import LAYERWISE_COLUMNS, UNIT_SCORE_COLUMNS, UNITWISE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def test_tiny_run_writes_every_output(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _run("model=toy3d", "dataset=synthetic_tiny", "probe.n_pairs=10",
                f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    for name in ("features.h5", "layerwise.csv", "unitwise.csv", "unit_scores.csv",
                 "summary.md", "layerwise.png", "unitwise.png", "skipped.csv"):
        assert (out / name).stat().st_size > 0, name
    assert list(pd.read_csv(out / "layerwise.csv").columns) == LAYERWISE_COLUMNS
    assert list(pd.read_csv(out / "unitwise.csv").columns) == UNITWISE_COLUMNS
    assert list(pd.read_csv(out / "unit_scores.csv").columns) == UNIT_SCORE_COLUMNS
    assert "UNTRAINED" in proc.stderr + proc.stdout  # said loudly
    assert "stage4" in proc.stdout and str(out / "layerwise.csv") in proc.stdout
    with h5py.File(out / "features.h5") as f:
        assert f.attrs["model"] == "toy3d" and f.attrs["dataset"] == "synthetic_tiny"
        assert f["pairs/factor"].shape == (10,)
    # the same command again reuses the finished features instead of recomputing them
    again = _run("model=toy3d", "dataset=synthetic_tiny", "probe.n_pairs=10",
                 f"hydra.run.dir={out}")
    assert again.returncode == 0 and "already complete" in again.stderr + again.stdout
    # a different config in the same directory is refused, naming the key
    other = _run("model=toy3d", "dataset=synthetic_tiny", "probe.n_pairs=12",
                 f"hydra.run.dir={out}")
    assert other.returncode == 2 and "probe.n_pairs" in other.stderr


def test_list_layers(tmp_path: Path) -> None:
    proc = _run("model=slowfast_r50", "probe.list_layers=true", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "slow.stage3" in proc.stdout and "blocks.2.multipathway_blocks.0" in proc.stdout


def test_unknown_model_lists_choices(tmp_path: Path) -> None:
    proc = _run("model=resnet_bogus", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0
    assert "resnet_bogus" in proc.stderr and "x3d_xs" in proc.stderr
