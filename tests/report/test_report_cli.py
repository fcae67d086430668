"""``python -m staticdyn.report``: the re-analysis command, and its older name as an alias."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.metrics.__main__ import main as metrics_main
from staticdyn.report.__main__ import main
from tests.helpers.fabricate import write_features_h5

LAYERS = {"stage1": 6, "stage2": 10}


@pytest.fixture
def h5(tmp_path: Path) -> Path:
    return write_features_h5(tmp_path / "run" / "features.h5", LAYERS, n=80)


def test_both_names_write_the_same_files(h5: Path, tmp_path: Path) -> None:
    args = ["--lambda", "0.3", "--bootstrap", "20", "--lambda-sweep", "--quiet"]
    assert main([str(h5), "--out", str(tmp_path / "report"), *args]) == 0
    assert metrics_main([str(h5), "--out", str(tmp_path / "metrics"), *args]) == 0
    for name in ("layerwise.csv", "unitwise.csv", "unit_scores.csv", "lambda_sweep.csv",
                 "summary.md"):
        assert (tmp_path / "report" / name).read_bytes() == (
            tmp_path / "metrics" / name).read_bytes(), name
    lw = pd.read_csv(tmp_path / "report" / "layerwise.csv")
    assert list(lw["layer"]) == list(LAYERS) and "dynamic_pct_lo" in lw.columns


def test_errors_name_the_command_the_user_typed(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    missing = str(tmp_path / "missing.h5")
    assert main([missing]) == 2
    assert capsys.readouterr().err.startswith("python -m staticdyn.report: error: features")
    assert metrics_main([missing]) == 2
    assert capsys.readouterr().err.startswith("python -m staticdyn.metrics: error: features")


def test_real_process(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "staticdyn.report", str(tmp_path / "x.h5"), "--estimator", "mean"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr
    assert "unknown estimator 'mean'. Valid choices: pooled, paper" in lines[0]
