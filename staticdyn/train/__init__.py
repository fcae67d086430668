"""Training: a small PyTorch loop for zoo models on labelled video sources, and StaticDropout.

``prepare`` + ``train_run`` (or ``fit``) are the Python API. The Hydra entry
(``python run.py mode=train``) and the experiments built on training (shuffled frames, biases
along training, StaticDropout, calibration) live above, in ``staticdyn.experiments``.
"""

from __future__ import annotations

from staticdyn.train.build import Prepared, prepare, train_run
from staticdyn.train.loop import TrainResult, fit
from staticdyn.train.settings import TrainSettings

__all__ = ["Prepared", "TrainResult", "TrainSettings", "fit", "prepare", "train_run"]
