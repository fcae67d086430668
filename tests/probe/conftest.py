"""Shared helpers: compose the real Hydra config with a fake in-memory dataset."""

from __future__ import annotations

from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir
from omegaconf import DictConfig, open_dict

CONF = str(Path(__file__).resolve().parents[2] / "conf")


def make_cfg(out_dir: Path, overrides: list[str] = (), dataset: dict | None = None) -> DictConfig:
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=["~dataset", f"out_dir={out_dir}",
                                           "probe.progress=false", *overrides])
    with open_dict(cfg):
        cfg.dataset = {"_target_": "tests.probe.fakes.FakeSource", "name": "fake",
                       **(dataset or {})}
    return cfg


@pytest.fixture
def cfg_factory(tmp_path: Path):  # noqa: ANN201
    def factory(name: str = "run", overrides: list[str] = (), dataset: dict | None = None):
        return make_cfg(tmp_path / name, list(overrides), dataset)

    return factory
