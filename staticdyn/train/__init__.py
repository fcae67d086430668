"""Training: a small PyTorch loop for zoo models on labelled video sources, and the
experiments built on it (shuffled frames, biases along training, StaticDropout, calibration).

``run_train(cfg)`` is the Hydra entry (``python run.py mode=train``); ``prepare`` + ``train_run``
(or ``fit``) are the Python API.
"""

from __future__ import annotations

from staticdyn.train.build import Prepared, prepare, train_run
from staticdyn.train.loop import TrainResult, fit
from staticdyn.train.runner import run_train
from staticdyn.train.settings import TrainSettings

__all__ = ["Prepared", "TrainResult", "TrainSettings", "fit", "prepare", "run_train",
           "train_run"]
