"""Fixtures every test folder may use. Plain helpers live in ``tests.helpers``.

A folder's own ``conftest.py`` keeps what only that folder needs (media writers in ``data/``,
the tiny DAVIS set in ``vos/``, one torch thread in ``train/``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from tests.helpers.configs import CONF, make_cfg


@pytest.fixture(scope="session")
def conf_dir() -> Path:
    """The repository's ``conf/`` directory (Hydra's config root)."""
    return Path(CONF)


@pytest.fixture
def cfg_factory(tmp_path: Path) -> Callable[..., DictConfig]:
    """``make_cfg`` under ``tmp_path / name``: the real probe config with the fake source."""

    def factory(name: str = "run", overrides: list[str] = (),
                dataset: dict | None = None) -> DictConfig:
        return make_cfg(tmp_path / name, list(overrides), dataset)

    return factory
