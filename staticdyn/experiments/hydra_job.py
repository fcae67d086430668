"""What a Hydra job writes into its run directory, and when: nothing before the run is accepted.

Hydra creates the job's directory, opens its log file there and (by default) writes
``.hydra/{config,hydra,overrides}.yaml`` before the task function runs. A refused run (another
config in a finished run's directory, its lock held, a bad setting) therefore overwrote the
finished run's saved config, which the report reads. conf/config.yaml sets
``hydra.output_subdir: null`` and ``HydraJob`` does those writes itself:

- ``accept()``, called by the pipeline once every check passed, writes ``.hydra/`` exactly as
  Hydra would and hands the log records held so far to the job's log file;
- a single run that never accepted (refused, or ``probe.list_layers``) writes nothing: its log
  records went to the console only, and a directory Hydra created for it is removed again
  (``RunDirGuard`` notes what did not exist before Hydra made it).

In a multirun every job gets ``.hydra/`` at start when it has none (a finished job's is never
replaced before its run is accepted), so the sweep report lists failed and killed jobs with
their overrides; failures are still recorded in the job folder (``FAILED.txt``, the job log).
"""

from __future__ import annotations

import logging
import os
import sys
from logging.handlers import MemoryHandler
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

HYDRA_SUBDIR = ".hydra"

# What RunDirGuard saw before Hydra created a single run's directory.
_BEFORE: dict[str, Any] = {}


class RunDirGuard(Callback):
    """Registered in conf/config.yaml: before Hydra creates a single run's directory, note the
    folders and log files that do not exist yet, so a refused run removes exactly those."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        _BEFORE.clear()
        try:
            run_dir = Path(os.path.abspath(str(OmegaConf.select(config, "hydra.run.dir"))))
        except Exception:  # noqa: BLE001 - an unresolvable dir: Hydra reports it; we keep all
            return
        created, folder = [], run_dir
        while not folder.exists():
            created.append(folder)
            folder = folder.parent
        logs = set(run_dir.glob("*.log")) if run_dir.is_dir() else set()
        _BEFORE.update(run_dir=run_dir, created=created, logs=logs)


class HydraJob:
    """One Hydra job's claim on its run directory (see the module docstring)."""

    def __init__(self, cfg: DictConfig) -> None:
        hc = HydraConfig.get()
        self.cfg = cfg
        self.run_dir = Path(hc.runtime.output_dir)
        self.multirun = hc.mode == RunMode.MULTIRUN
        self.accepted = False
        self._held: list[tuple[logging.Logger, logging.FileHandler, MemoryHandler]] = []
        if self.multirun:
            self.save_config(only_if_missing=True)
        else:
            self._hold_logs()

    # -- .hydra/ ----------------------------------------------------------------------------
    def save_config(self, only_if_missing: bool = False) -> None:
        """Write ``.hydra/{config,hydra,overrides}.yaml`` as Hydra's ``run_job`` does."""
        hc = HydraConfig.get()
        if hc.output_subdir is not None:  # Hydra wrote them itself
            return
        folder = self.run_dir / HYDRA_SUBDIR
        if only_if_missing and (folder / "config.yaml").exists():
            return
        folder.mkdir(parents=True, exist_ok=True)
        files = {"config.yaml": self.cfg, "hydra.yaml": HydraConfig.instance().cfg,
                 "overrides.yaml": hc.overrides.task}
        for name, node in files.items():
            (folder / name).write_text(OmegaConf.to_yaml(node), encoding="utf-8")

    def accept(self) -> None:
        """The run passed every check: it may now write into its directory."""
        if self.accepted:
            return
        self.accepted = True
        self.save_config()
        self._release(keep=True)

    # -- the job log --------------------------------------------------------------------------
    def _hold_logs(self) -> None:
        """Put a buffer in place of every log file handler writing into the run directory."""
        loggers = [logging.getLogger(), *(lg for lg in logging.root.manager.loggerDict.values()
                                          if isinstance(lg, logging.Logger))]
        for logger in loggers:
            for handler in list(logger.handlers):
                if isinstance(handler, logging.FileHandler) and \
                        Path(handler.baseFilename).parent == self.run_dir:
                    buffer = MemoryHandler(sys.maxsize, flushLevel=logging.CRITICAL + 1,
                                           target=handler, flushOnClose=False)
                    buffer.setLevel(handler.level)
                    logger.removeHandler(handler)
                    logger.addHandler(buffer)
                    self._held.append((logger, handler, buffer))

    def _release(self, keep: bool) -> None:
        """Give the log files back (``keep``: with the records held so far) or close them."""
        for logger, handler, buffer in self._held:
            logger.removeHandler(buffer)
            if keep:
                buffer.flush()
                logger.addHandler(handler)
            else:
                buffer.buffer.clear()
                handler.close()
            buffer.close()
        self._held = []

    # -- the end of the job -----------------------------------------------------------------
    def close(self) -> None:
        """A single run that never accepted leaves nothing behind: held records are dropped
        (the console showed them) and what Hydra created for it is removed."""
        if self.accepted or self.multirun:
            return
        files = [Path(h.baseFilename) for _, h, _ in self._held]
        self._release(keep=False)
        if _BEFORE.get("run_dir") != self.run_dir:
            return
        for path in files:
            if path not in _BEFORE["logs"] and path.is_file() and path.stat().st_size == 0:
                path.unlink()
        for folder in _BEFORE["created"]:  # deepest first; stops at the first non-empty one
            try:
                folder.rmdir()
            except OSError:
                break
