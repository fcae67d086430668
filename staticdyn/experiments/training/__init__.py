"""Experiments built on the training loop; each is ``run(cfg, out_dir) -> dict``.

The experiment's YAML names its function (``experiment.runner`` in
``conf/experiment/<name>.yaml``), so adding one is a module and a YAML file, with no table
here; the module is imported only when that experiment runs, so that a plain training run
never loads plotting code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from staticdyn.errors import StaticDynError

Runner = Callable[[DictConfig, Path], dict[str, Any]]


def get_runner(experiment: Mapping[str, Any]) -> Runner:
    """The function ``experiment.runner`` names (an import path like ``pkg.module.run``)."""
    from staticdyn.models.builders import import_object

    name = experiment.get("name")
    path = experiment.get("runner")
    if not path:
        raise StaticDynError(f"experiment '{name}' names no experiment.runner, so it is not a "
                             f"training experiment; probe sweeps run with python run.py -m "
                             f"+experiment={name}")
    runner = import_object(str(path))
    if not callable(runner):
        raise StaticDynError(f"experiment.runner '{path}' is not a function")
    return runner
