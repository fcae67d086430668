"""Optimizer and learning-rate schedule.

The schedule is a pure function of the step (``lr_at``) written into the optimizer before every
step, rather than a torch LR scheduler object: resuming then needs nothing but the step number,
and the schedule of a run can be printed or tested without building a model.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch

from staticdyn.train.settings import TrainSettings


def build_optimizer(params: Iterable[torch.nn.Parameter], s: TrainSettings
                    ) -> torch.optim.Optimizer:
    params = list(params)
    if s.optimizer == "sgd":
        return torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    if s.optimizer == "adam":
        return torch.optim.Adam(params, lr=s.lr, weight_decay=s.weight_decay)
    return torch.optim.AdamW(params, lr=s.lr, weight_decay=s.weight_decay)


def lr_at(step: int, total: int, s: TrainSettings) -> float:
    """Learning rate of step ``step`` (0-based) of ``total``: linear warm-up, then the schedule."""
    if s.warmup_steps > 0 and step < s.warmup_steps:
        return s.lr * (step + 1) / s.warmup_steps
    if s.schedule == "constant":
        return s.lr
    if s.schedule == "step":
        return s.lr * s.gamma ** sum(step >= m for m in s.milestones)
    span = max(total - s.warmup_steps, 1)
    progress = min(max(step - s.warmup_steps, 0) / span, 1.0)
    return s.lr * 0.5 * (1.0 + math.cos(math.pi * progress))


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr
