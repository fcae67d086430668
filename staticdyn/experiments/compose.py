"""Composing ``conf/config.yaml`` + ``+experiment=NAME`` exactly as ``run.py`` does, and
expanding an experiment's sweep with Hydra's own sweeper.

The sweep runner, the smoke harness and the tests all go through these functions, so a job they
run is the job ``python run.py -m +experiment=NAME`` would run: same config, same folder.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"


@contextlib.contextmanager
def hydra_context() -> Iterator[None]:
    """Hydra initialised on conf/ once, for many compositions (each init costs ~0.1 s)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    if GlobalHydra.instance().is_initialized():
        yield
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield


def compose_experiment(name: str, overrides: Sequence[str] = (),
                       hydra_config: bool = False) -> DictConfig:
    """``conf/config.yaml`` + ``+experiment=<name>`` + overrides, as ``run.py`` composes it."""
    from hydra import compose
    from hydra.core.global_hydra import GlobalHydra

    args = {"overrides": [f"+experiment={name}", *overrides], "return_hydra_config": hydra_config}
    if GlobalHydra.instance().is_initialized():  # inside hydra_context(): reuse it
        return compose("config", **args)
    with hydra_context():
        return compose("config", **args)


def list_experiments() -> list[str]:
    """Every experiment config in conf/experiment (the ones ``+experiment=`` accepts)."""
    return sorted(p.stem for p in (CONF_DIR / "experiment").glob("*.yaml"))


def sweep_params(name: str, overrides: Sequence[str] = ()) -> dict[str, str]:
    """The experiment's ``hydra.sweeper.params`` (key -> comma-separated values)."""
    cfg = compose_experiment(name, overrides, hydra_config=True)
    params = OmegaConf.select(cfg, "hydra.sweeper.params") or {}
    return {str(k): str(v) for k, v in params.items()}


def expand_sweep(params: dict[str, str]) -> list[list[str]]:
    """Job override lists of a sweep, in Hydra's BasicSweeper order (its own expansion)."""
    from hydra._internal.core_plugins.basic_sweeper import BasicSweeper
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides([f"{k}={v}" for k, v in params.items()])
    batches = BasicSweeper.split_arguments(parsed, None)
    return [list(job) for batch in batches for job in batch]
