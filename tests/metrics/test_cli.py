"""``python -m staticdyn.metrics``: a good run writes the report; bad input exits 2 in one line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.metrics.__main__ import main
from staticdyn.metrics.analyze import LAYERWISE_COLUMNS, UNITWISE_COLUMNS
from tests.helpers.fabricate import write_features_h5

LAYERS = {"stage1": 6, "slow.stage_2": 10}


@pytest.fixture
def h5(tmp_path: Path) -> Path:
    return write_features_h5(tmp_path / "run" / "features.h5", LAYERS, model="toy_model", n=80)


def _one_error_line(err: str, *needles: str) -> None:
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_good_run_writes_report_next_to_features(h5: Path, capsys) -> None:  # noqa: ANN001
    assert main([str(h5)]) == 0
    for name in ("layerwise.csv", "unitwise.csv", "unit_scores.csv", "summary.md",
                 "layerwise.png", "unitwise.png"):
        assert (h5.parent / name).stat().st_size > 0, name
    lw = pd.read_csv(h5.parent / "layerwise.csv")
    # documented columns first and unchanged; intervals (default 1000 resamples) appended
    assert list(lw.columns[: len(LAYERWISE_COLUMNS)]) == LAYERWISE_COLUMNS
    assert {"dynamic_pct_lo", "static_pct_hi", "estimable", "note"} <= set(lw.columns)
    assert lw["estimable"].all()
    assert list(lw["layer"]) == list(LAYERS)
    assert "stage1" in capsys.readouterr().out


def test_out_lambda_estimator_and_bootstrap(h5: Path, tmp_path: Path) -> None:
    out = tmp_path / "elsewhere"
    rc = main([str(h5), "--out", str(out), "--lambda", "0.3", "--estimator", "paper",
               "--bootstrap", "40", "--lambda-sweep", "--quiet"])
    assert rc == 0
    uw = pd.read_csv(out / "unitwise.csv")
    assert list(uw.columns[: len(UNITWISE_COLUMNS)]) == UNITWISE_COLUMNS
    assert (uw["lambda"] == 0.3).all()
    lw = pd.read_csv(out / "layerwise.csv")
    assert {"dynamic_pct_lo", "dynamic_pct_hi", "static_pct_lo", "residual_pct_hi"} <= set(
        lw.columns)
    assert (lw["dynamic_pct_lo"] <= lw["dynamic_pct_hi"]).all()
    assert {"dynamic_lo", "dead_hi"} <= set(uw.columns)
    assert (out / "lambda_sweep.csv").is_file() and (out / "lambda_sweep.png").is_file()
    assert "paper" in (out / "summary.md").read_text()
    assert not (h5.parent / "layerwise.csv").exists()


def test_missing_file_exits_2_with_one_line(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    missing = tmp_path / "nope" / "features.h5"
    assert main([str(missing)]) == 2
    _one_error_line(capsys.readouterr().err, "not found", str(missing))


def test_bad_estimator_exits_2_naming_choices(h5: Path, capsys) -> None:  # noqa: ANN001
    assert main([str(h5), "--estimator", "median"]) == 2
    _one_error_line(capsys.readouterr().err, "median", "pooled", "paper")


@pytest.mark.parametrize("args, needle", [
    (["--lambda", "1.5"], "--lambda"),
    (["--layers", "stage9"], "stage9"),
    (["--bootstrap", "-1"], "--bootstrap"),
])
def test_other_bad_arguments_exit_2(h5: Path, capsys, args, needle) -> None:  # noqa: ANN001
    assert main([str(h5), *args]) == 2
    _one_error_line(capsys.readouterr().err, needle)


def test_not_hdf5_exits_2(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    bogus = tmp_path / "features.h5"
    bogus.write_text("not hdf5")
    assert main([str(bogus)]) == 2
    _one_error_line(capsys.readouterr().err, "HDF5")


def test_real_process_exit_code_and_stderr(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "staticdyn.metrics", str(tmp_path / "missing.h5")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    _one_error_line(proc.stderr, "features file not found")
