"""Train a zoo model (or run a training experiment): ``python scripts/train.py [key=value ...]``.

The same as ``python run.py mode=train ...``; for example
    python scripts/train.py model=toy3d dataset=synthetic dataset.classes=motion train.epochs=3
    python scripts/train.py +experiment=shuffle_training
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig, open_dict

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from staticdyn.errors import StaticDynError  # noqa: E402


@hydra.main(version_base="1.3", config_path="../conf", config_name="config")
def main(cfg: DictConfig) -> None:
    from staticdyn.train import run_train

    with open_dict(cfg):
        cfg.mode = "train"
    try:
        run_train(cfg)
    except StaticDynError as exc:
        logging.getLogger("staticdyn").error("%s", exc)
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
