"""staticdyn entry point: ``python run.py model=slowfast_r50 dataset=ssv2 probe.n_pairs=3000``.

Hydra composes conf/config.yaml with one entry of each group (model, dataset, probe);
``python run.py --help`` lists the groups and their options.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig

from staticdyn.errors import StaticDynError
from staticdyn.experiments import dispatch


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    hc = HydraConfig.get()
    try:
        dispatch(cfg)
    except Exception as exc:
        log = logging.getLogger("staticdyn")
        if hc.mode == RunMode.MULTIRUN:
            # one failed job must not stop the sweep: record it, report it at the end
            from staticdyn.experiments.callbacks import record_failure

            log.error("job failed: %s: %s", type(exc).__name__, exc, exc_info=True)
            record_failure(Path(hc.runtime.output_dir), exc)
            return
        if isinstance(exc, StaticDynError):
            log.error("%s", exc)
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        raise


if __name__ == "__main__":
    main()
