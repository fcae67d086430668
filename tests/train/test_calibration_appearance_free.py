"""The calibration ordering holds with appearance-free dynamic pairs, side by side with styles.

The session's CI-size calibration (``conftest.calibration``: ``fast_cfg`` with
``experiment.dynamic_pairs=[style, appearance_free]``): every model is trained once and probed
twice; the motion-trained Tiny3D must rank above the appearance-trained one on dynamic % at
its last stage with both kinds of dynamic pairs (non-overlapping intervals), and the
frame-order-invariant model still has no dynamic unit.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from omegaconf import open_dict

from staticdyn.errors import InvalidSettingError
from staticdyn.experiments.train_job import run_train

BOTH = ["style", "appearance_free"]


def test_motion_above_appearance_with_appearance_free_pairs(calibration) -> None:
    out = calibration.out
    assert list(calibration.cfg.experiment.dynamic_pairs) == BOTH
    checks = {c.name: c for c in calibration.result["checks"]}
    assert len(checks) == 4, list(checks)
    for c in checks.values():
        assert c.passed, f"{c.name}: {c.detail}"
    free = "motion > appearance (dynamic %, last stage, intervals apart) [appearance_free " \
           "dynamic pairs]"
    assert free in checks
    lw = pd.read_csv(out / "calibration_layerwise.csv")
    assert list(lw.columns[:2]) == ["calibration_model", "dynamic_pairs"]
    assert sorted(set(lw["dynamic_pairs"])) == sorted(BOTH)
    last = lw[lw["layer"] == "stage4"].set_index(["dynamic_pairs", "calibration_model"])
    print(last[["dynamic_pct", "dynamic_pct_lo", "dynamic_pct_hi", "static_pct"]])
    for name in ("calibration.png", "calibration_appearance_free.png"):
        assert (out / name).exists()
    assert (out / "motion" / "probe_appearance_free" / "features.h5").exists()
    assert "appearance_free" in (out / "calibration.md").read_text()


def test_bad_variant_is_refused_before_training(tmp_path: Path, calibration_cfg) -> None:
    cfg = calibration_cfg(tmp_path / "bad")
    with open_dict(cfg):
        cfg.experiment.dynamic_pairs = ["style", "noise"]
    with pytest.raises(InvalidSettingError, match="appearance_free"):
        run_train(cfg)
    assert not (tmp_path / "bad" / "motion").exists()
