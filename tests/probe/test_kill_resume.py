"""The real CLI killed with SIGKILL mid-extraction, rerun each time, ends equal to a clean run."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
# In-process loading (num_workers=0): only the main process writes the store, so workers do
# not change what a kill can break, and with them this tiny run ends before it can be killed.
ARGS = ["model=toy3d", "dataset=synthetic_tiny", "dataset.n_videos=60", "probe.n_pairs=120",
        "probe.batch_size=3", "probe.progress=false", "probe.num_workers=0"]


def _cmd(out: Path) -> list[str]:
    return [sys.executable, "run.py", *ARGS, f"hydra.run.dir={out}"]


def _content(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out: dict[str, np.ndarray] = {}
        f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset)
                     else None)
        return out


def test_sigkill_during_extraction_then_rerun(tmp_path: Path) -> None:
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    subprocess.run(_cmd(clean), cwd=ROOT, check=True, capture_output=True, timeout=600)
    journal = killed / "features.h5.journal"
    rnd = random.Random(7)
    kills = 0
    for _ in range(3):
        proc = subprocess.Popen(_cmd(killed), cwd=ROOT, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        before = len(list(journal.glob("seg_*.npz"))) if journal.exists() else 0
        deadline = time.time() + 120
        # wait until this process has committed at least one more batch, then kill at random
        while time.time() < deadline and proc.poll() is None:
            if journal.exists() and len(list(journal.glob("seg_*.npz"))) > before:
                break
            time.sleep(0.05)
        time.sleep(rnd.uniform(0.0, 0.4))
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            kills += 1
        proc.wait()
    assert kills >= 2, "the run finished before it could be killed; make it longer"
    subprocess.run(_cmd(killed), cwd=ROOT, check=True, capture_output=True, timeout=600)
    a, b = _content(clean / "features.h5"), _content(killed / "features.h5")
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    assert b["pairs/index"].tolist() == list(range(120))  # no duplicate, no missing pair
    for table in ("layerwise.csv", "unitwise.csv", "unit_scores.csv"):
        pd.testing.assert_frame_equal(pd.read_csv(clean / table), pd.read_csv(killed / table))
