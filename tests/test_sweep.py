"""Multirun sweeps: a failed job is recorded and reported, the other jobs' results stand."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def test_failed_job_is_reported_and_others_stand(tmp_path: Path) -> None:
    sweep = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "run.py", "-m", "model=toy3d", "dataset=synthetic_tiny",
         "probe.n_pairs=6", "probe.progress=false", "probe.layers=[stage1],[stage9]",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "1 of 2 jobs ok" in proc.stdout
    assert "FAILED" in proc.stdout and "stage9" in proc.stdout
    status = pd.read_csv(sweep / "sweep_status.csv").set_index("job")
    ok = [j for j in status.index if status.loc[j, "status"] == "ok"]
    bad = [j for j in status.index if status.loc[j, "status"] == "failed"]
    assert len(ok) == 1 and len(bad) == 1
    assert (sweep / ok[0] / "layerwise.csv").exists()
    assert "UnknownLayerError" in (sweep / bad[0] / "FAILED.txt").read_text()
    # the same sweep again with another config: the finished job refuses it, and keeps its
    # saved config (.hydra/) and features exactly as they were
    kept = {p: p.read_bytes() for p in [*(sweep / ok[0] / ".hydra").iterdir(),
                                        sweep / ok[0] / "features.h5"]}
    again = subprocess.run(
        [sys.executable, "run.py", "-m", "model=toy3d", "dataset=synthetic_tiny",
         "probe.n_pairs=8", "probe.progress=false", "probe.layers=[stage1]",
         f"hydra.sweep.dir={sweep}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert again.returncode == 1, again.stderr[-2000:]
    assert "ConfigMismatchError" in (sweep / ok[0] / "FAILED.txt").read_text()
    assert {p: p.read_bytes() for p in kept} == kept


def test_single_run_bad_input_is_one_clear_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "run.py", "model=toy3d", "dataset=frames",
         f"dataset.root={tmp_path / 'missing'}", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    err = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "missing" in err[0]
    assert "Traceback" not in proc.stderr


def test_help_lists_groups() -> None:
    proc = subprocess.run([sys.executable, "run.py", "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0
    for group in ("model:", "dataset:", "probe:", "x3d_xs", "synthetic"):
        assert group in proc.stdout, group


def test_launchers_run_a_two_job_sweep(tmp_path: Path) -> None:
    """submitit (local executor, the SLURM code path) and joblib both run a 2-job sweep."""
    for launcher in ("local", "joblib"):
        sweep = tmp_path / launcher
        proc = subprocess.run(
            [sys.executable, "run.py", "-m", f"hydra/launcher={launcher}",
             "model=toy3d,toy_invariant", "dataset=synthetic_tiny", "probe.n_pairs=4",
             "probe.progress=false", f"hydra.sweep.dir={sweep}"],
            cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        status = pd.read_csv(sweep / "sweep_status.csv")
        assert status["status"].tolist() == ["ok", "ok"], launcher
        if launcher == "local":
            assert (sweep / ".submitit").exists()


def test_slurm_launcher_config_composes() -> None:
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("config", overrides=["hydra/launcher=slurm", "hydra.launcher.partition=gpu",
                                           "hydra.launcher.timeout_min=600"],
                      return_hydra_config=True)
    launcher = cfg.hydra.launcher
    assert launcher._target_.endswith("SlurmLauncher")
    assert (launcher.partition, launcher.timeout_min, launcher.gpus_per_node) == ("gpu", 600, 1)
    assert launcher.max_num_timeout > 0  # preempted / timed-out jobs are requeued
