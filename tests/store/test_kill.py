"""A writer killed with SIGKILL at random points loses nothing and duplicates nothing.

The child appends deterministic batches (rows derived from their index) as fast as it can, so
kills land inside HDF5 writes too; after each kill the store is reopened in the same way a
rerun would, and at the end its content must equal the uninterrupted sequence exactly.
"""

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

ROOT = Path(__file__).resolve().parents[2]
N_BATCHES = 400
CHILD = r"""
import sys
import numpy as np
sys.path.insert(0, {root!r})
from staticdyn.store.h5 import FeatureStore

def batch(i):
    rng = np.random.default_rng(i)
    k = 4
    rows = {{"index": [4 * i + j for j in range(k)], "group": [i] * k,
            "factor": [j % 2 for j in range(k)],
            "video": [f"v{{i}}"] * k, "style_a": ["style_0"] * k, "style_b": ["style_1"] * k,
            "seed": [i] * k, "start": [0] * k}}
    feats = {{"l1": (rng.normal(size=(k, 64)), rng.normal(size=(k, 64))),
             "l2": (rng.normal(size=(k, 512)), rng.normal(size=(k, 512)))}}
    return rows, feats

with FeatureStore({path!r}, {{"model": "m"}}, {{"model.name": "m"}}) as s:
    s.set_layers({{"l1": "a", "l2": "b"}})
    print("START", s.n_groups, flush=True)
    for i in range(s.n_groups, {n}):
        rows, feats = batch(i)
        skipped = [(i, f"v{{i}}", "planted")] if i % 50 == 7 else []
        s.append(rows, feats, groups_done=i + 1, skipped=skipped, forwards=3)
    s.finish()
print("DONE", flush=True)
"""


def _expected() -> dict[str, np.ndarray]:
    a1, a2 = [], []
    for i in range(N_BATCHES):
        rng = np.random.default_rng(i)
        a1.append(rng.normal(size=(4, 64)))
        rng.normal(size=(4, 64))
        a2.append(rng.normal(size=(4, 512)))
    return {"l1": np.concatenate(a1).astype(np.float32), "l2": np.concatenate(a2)
            .astype(np.float32)}


def test_sigkill_at_random_points_then_resume(tmp_path: Path) -> None:
    path = tmp_path / "features.h5"
    code = CHILD.format(root=str(ROOT), path=str(path), n=N_BATCHES)
    rnd = random.Random(1234)
    starts = []
    for _ in range(6):
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        line = proc.stdout.readline()  # the store is open and writing
        starts.append(int(line.split()[1]))
        time.sleep(rnd.uniform(0.05, 0.6))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert "DONE" in done.stdout, done.stderr[-2000:]
    # committed progress survives every kill: each restart begins where the last one stopped
    assert starts == sorted(starts) and starts[-1] >= 20, starts
    exp = _expected()
    with h5py.File(path) as f:
        assert bool(f.attrs["complete"])
        assert int(f.attrs["n_rows"]) == 4 * N_BATCHES
        assert f["pairs/index"][:].tolist() == list(range(4 * N_BATCHES))
        assert np.array_equal(f["features/l1/a"][:], exp["l1"])
        assert np.array_equal(f["features/l2/a"][:], exp["l2"])
        assert f["skipped/group"][:].tolist() == [i for i in range(N_BATCHES) if i % 50 == 7]
        assert int(f.attrs["forwards"]) == 3 * N_BATCHES
    assert not path.with_name(path.name + ".journal").exists()
