"""Fixtures every test folder may use. Plain helpers live in ``tests.helpers``.

A folder's own ``conftest.py`` keeps what only that folder needs (media writers in ``data/``,
one torch thread in ``train/``). The tiny DAVIS set is here because the VOS tests mirror the
package: data (sources, pairs), models (nets, release checkpoints) and the pipeline use it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from omegaconf import DictConfig

from staticdyn.data.davis import SyntheticDavisSource
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


@pytest.fixture(scope="session")
def tiny_davis(tmp_path_factory: pytest.TempPathFactory) -> SyntheticDavisSource:
    """3 sequences x 5 frames of 48 x 48 in the DAVIS layout, 4 styles, with both flows."""
    cache = tmp_path_factory.mktemp("vos_cache")
    return SyntheticDavisSource(cache_dir=cache, n_sequences=3, num_frames=5, size=48)
