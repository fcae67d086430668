"""``cfg.train`` as a typed, validated object, so the loop never reads a DictConfig.

Validation happens once, up front, with one clear message per mistake: a typo in an optimizer
name should fail before a model is built or a video decoded, not after the first epoch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from staticdyn.errors import StaticDynError, UnknownChoiceError

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("constant", "cosine", "step")
# Keys that change speed or verbosity but not the trained weights: a run may resume with other
# values. Everything else must match the run being resumed.
NON_IDENTITY_KEYS = frozenset({"progress", "num_workers", "threads", "device", "resume",
                               "log_every", "out_dir"})


@dataclass
class TrainSettings:
    """Every knob of the loop (conf/train/default.yaml documents each one)."""

    epochs: int = 5
    max_steps: int | None = None
    batch_size: int = 16
    optimizer: str = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 1e-4
    schedule: str = "cosine"
    warmup_steps: int = 0
    milestones: list[int] = field(default_factory=list)
    gamma: float = 0.1
    label_smoothing: float = 0.0
    val_fraction: float = 0.2
    split_seed: int = 0
    seed: int = 0
    init_seed: int | None = None
    shuffle_frames: bool = False
    style: str | int = "random"
    style_warmup_epochs: int = 0
    warmup_style: int = 0
    clip_start: str = "first"
    ckpt_every: int = 0
    save_initial: bool = False
    eval_every: int = 0
    log_every: int = 10
    resume: bool = True
    num_workers: int = 0
    device: str = "cpu"
    threads: int | None = None
    progress: bool = True
    out_dir: str | None = None
    num_classes_key: str = "auto"
    cue: dict[str, Any] = field(default_factory=dict)
    dropout: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_mapping(cls, raw: dict[str, Any]) -> TrainSettings:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(raw) - names)
        if unknown:
            raise UnknownChoiceError("train key", unknown[0], names)
        s = cls(**{k: v for k, v in raw.items() if v is not None})  # null: the default
        s.validate()
        return s

    def validate(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise UnknownChoiceError("train.optimizer", self.optimizer, OPTIMIZERS)
        if self.schedule not in SCHEDULES:
            raise UnknownChoiceError("train.schedule", self.schedule, SCHEDULES)
        if self.batch_size < 1 or self.epochs < 0 or self.lr <= 0:
            raise StaticDynError("train: need batch_size >= 1, epochs >= 0 and lr > 0")
        if self.max_steps is not None and self.max_steps < 0:
            raise StaticDynError("train.max_steps must be >= 0 (or null)")
        if not 0.0 <= float(self.val_fraction) < 1.0:
            raise StaticDynError(f"train.val_fraction must be in [0, 1); got {self.val_fraction}")

    @property
    def model_seed(self) -> int:
        """Seed of the weight initialisation: two runs sharing it start from the same weights."""
        return self.seed if self.init_seed is None else int(self.init_seed)

    def identity(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in NON_IDENTITY_KEYS}
