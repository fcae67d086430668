"""staticdyn entry point: ``python run.py model=slowfast_r50 dataset=ssv2 probe.n_pairs=3000``.

Hydra composes conf/config.yaml with one entry of each group (model, dataset, probe);
``python run.py --help`` lists the groups and their options.
"""

from __future__ import annotations

import logging
import sys

import hydra
from omegaconf import DictConfig

from staticdyn.errors import StaticDynError


@hydra.main(version_base="1.3", config_path="conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from staticdyn.pipeline import run

    try:
        run(cfg)
    except StaticDynError as exc:
        logging.getLogger("staticdyn").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
