"""The calibration orderings at CI size (the full suite is ``make calibrate``).

32-px, 8-frame synthetic videos and 250 training steps per model: the motion-trained Tiny3D
must have a higher dynamic % at its last stage than the appearance-trained one, with
non-overlapping bootstrap intervals, and the frame-order-invariant model no dynamic unit.
The seeds are fixed; the margins seen over several seeds are in docs/training.md.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import open_dict

from staticdyn.experiments.train_job import run_train
from tests.helpers.configs import compose_cfg

FAST_MODELS = {
    # the order-invariant check is structural: an untrained invariant model must pass it too
    "invariant": {"model": "toy_invariant", "train": None},
    "appearance": {"dataset": {"classes": "appearance"}, "train": {"style": 0}},
    "motion": {"dataset": {"classes": "motion"},
               "train": {"style": "random", "style_warmup_epochs": 2}},
}


def fast_cfg(out: Path, seed: int = 0):  # noqa: ANN201
    cfg = compose_cfg(out, ["+experiment=calibrate"],
                      model={"builder_kwargs": {"width": 8, "num_classes": 10}},
                      dataset={"n_videos": 2000, "seed": 10 + seed},
                      train={"max_steps": 400, "batch_size": 16, "seed": seed,
                             "val_fraction": 0.1, "log_every": 50, "num_workers": 1})
    with open_dict(cfg):
        cfg.experiment.models = FAST_MODELS
        cfg.experiment.bootstrap = 300
        cfg.experiment.probe_dataset = {"classes": None, "seed": 1, "n_videos": 400}
        cfg.probe.n_pairs = 500
        cfg.probe.batch_size = 50
        cfg.probe.num_workers = 1
    return cfg


def test_calibration_ordering_fast(tmp_path: Path) -> None:
    result = run_train(fast_cfg(tmp_path / "calib"))
    checks = {c.name: c for c in result["checks"]}
    assert len(checks) == 2
    for c in checks.values():
        assert c.passed, f"{c.name}: {c.detail}"
    assert (tmp_path / "calib" / "calibration.png").exists()
    assert "PASS" in (tmp_path / "calib" / "calibration.md").read_text()
