"""The experiments end to end at toy sizes: they run from their YAML and write their tables."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from omegaconf import open_dict

from staticdyn.experiments.train_job import run_train
from staticdyn.experiments.training.biases import step_to_90
from staticdyn.experiments.training.shuffle import relative_drop
from staticdyn.report.paper_figures import SHUFFLE_COLUMNS
from tests.helpers.configs import compose_cfg


def test_experiment_configs_compose(tmp_path: Path) -> None:
    for name in ("shuffle_training", "biases_along_training", "static_dropout", "calibrate"):
        from hydra import compose, initialize_config_dir

        from tests.helpers.configs import CONF

        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            cfg = compose("config", overrides=[f"+experiment={name}"])
        assert cfg.mode == "train" and cfg.experiment.name == name
        assert cfg.model.name == "toy3d"


def test_shuffle_experiment_writes_fig5_csv(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path / "exp", ["+experiment=shuffle_training"],
                      train={"max_steps": 3})
    with open_dict(cfg):
        cfg.experiment.datasets = {"motion": {"dataset": {"classes": "motion"}},
                                   "appearance": {"dataset": {"classes": "appearance"},
                                                  "train": {"style": 0}}}
    out = run_train(cfg)
    df = pd.read_csv(tmp_path / "exp" / "shuffle_results.csv")
    assert set(SHUFFLE_COLUMNS) <= set(df.columns)
    assert list(df["dataset"]) == ["motion", "appearance"]
    assert (tmp_path / "exp" / "fig5_right_shuffle_drop.png").exists()
    assert out["figure"]
    # ordered and shuffled twins started from the same weights
    import torch

    a = torch.load(tmp_path / "exp/motion/seed0/ordered/checkpoints/step_0000003.pyth",
                   weights_only=True)
    b = torch.load(tmp_path / "exp/motion/seed0/shuffled/checkpoints/step_0000003.pyth",
                   weights_only=True)
    assert not torch.equal(a["model_state"]["blocks.0.0.weight"],
                           b["model_state"]["blocks.0.0.weight"])  # trained differently


def test_relative_drop() -> None:
    assert relative_drop(80.0, 40.0) == pytest.approx(50.0)
    assert math.isnan(relative_drop(0.0, 0.0))


def test_biases_experiment_probes_every_checkpoint(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path / "exp", ["+experiment=biases_along_training"],
                      train={"max_steps": 4, "ckpt_every": 2, "eval_every": 2})
    run_train(cfg)
    df = pd.read_csv(tmp_path / "exp" / "biases_along_training.csv")
    assert sorted(df["step"].unique()) == [0, 2, 4]
    assert set(df["layer"]) == {"stage1", "stage2", "stage3", "stage4"}
    t90 = pd.read_csv(tmp_path / "exp" / "biases_t90.csv")
    assert {"step_90_final", "step_90_change"} <= set(t90.columns)
    assert (tmp_path / "exp" / "biases_along_training.png").exists()


def test_step_to_90() -> None:
    steps = np.array([0, 10, 20, 30])
    assert step_to_90(steps, np.array([0.0, 5.0, 9.5, 10.0])) == (20.0, 20.0)
    lit, chg = step_to_90(steps, np.array([40.0, 30.0, 21.0, 20.0]))  # a falling curve
    assert lit == 0.0 and chg == 20.0
    assert all(math.isnan(v) for v in step_to_90(steps, np.zeros(4)))


def test_static_dropout_experiment_compares_arms(tmp_path: Path) -> None:
    cfg = compose_cfg(tmp_path / "exp", ["+experiment=static_dropout"], train={
        "max_steps": 4, "cue": {"correlation": 0.9},
        "dropout": {"layer": "stage4", "p": 0.5, "classes": ["static", "joint", "residual"],
                    "start": 1, "refresh_every": 0, "n_pairs": 8}})
    run_train(cfg)
    df = pd.read_csv(tmp_path / "exp" / "static_dropout_results.csv")
    assert list(df["arm"]) == ["static", "none", "plain"]
    by = df.set_index("arm")
    assert by.loc["none", "mean_dropped_fraction"] == 0
    # the plain baseline drops as many units on average as StaticDropout did
    assert by.loc["plain", "p"] == pytest.approx(by.loc["static", "mean_dropped_fraction"],
                                                 abs=1e-4)
    assert by.loc["plain", "mean_dropped_fraction"] == pytest.approx(
        by.loc["static", "mean_dropped_fraction"], abs=1e-3)
