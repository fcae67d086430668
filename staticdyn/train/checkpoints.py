"""Training checkpoints in the PyTorchVideo/SlowFast layout, so the probe loads them as they are.

A file is ``{"model_state": state_dict, "optimizer_state": ..., "step": n, "epoch": e, ...}``,
the layout of PyTorchVideo's model-zoo files and of SlowFast's checkpoints: the zoo's strict
loader (``model.checkpoint=PATH``) takes ``model_state`` and ignores the rest, and the loop
takes the rest to resume. Only tensors, numbers, strings and plain containers go in, so every
file reads back through ``staticdyn.models.checkpoints.reader`` (``torch.load(weights_only=True)``),
the one reader of every checkpoint, which never unpickles code.

Files are written to a temporary name and renamed: a run killed while saving leaves the previous
checkpoint intact, never a truncated one that resume would pick.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import torch

from staticdyn.errors import CheckpointFileError
from staticdyn.models.checkpoints.reader import read_checkpoint

PATTERN = re.compile(r"^step_(\d+)\.pyth$")


def checkpoint_path(ckpt_dir: Path, step: int) -> Path:
    return Path(ckpt_dir) / f"step_{step:07d}.pyth"


def list_checkpoints(ckpt_dir: Path) -> list[tuple[int, Path]]:
    """(step, path) of every checkpoint in the folder, by step."""
    ckpt_dir = Path(ckpt_dir)
    if not ckpt_dir.is_dir():
        return []
    found = []
    for p in ckpt_dir.iterdir():
        m = PATTERN.match(p.name)
        if m:
            found.append((int(m.group(1)), p))
    return sorted(found)


def save_checkpoint(ckpt_dir: Path, step: int, epoch: int, model: torch.nn.Module,
                    optimizer: torch.optim.Optimizer | None,
                    extra: dict[str, Any] | None = None) -> Path:
    path = checkpoint_path(ckpt_dir, step)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload: dict[str, Any] = {
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "step": int(step),
        "epoch": int(epoch),
    }
    if optimizer is not None:
        payload["optimizer_state"] = optimizer.state_dict()
    payload.update(extra or {})
    tmp = path.with_suffix(".pyth.tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_training_state(path: Path) -> dict[str, Any]:
    """The whole checkpoint (model, optimizer, step ...) for resuming."""
    state = read_checkpoint(path)
    if not isinstance(state, dict) or "model_state" not in state:
        raise CheckpointFileError(
            f"training checkpoint '{path}' holds no model_state; expected a file written by "
            "staticdyn's training loop (step_<n>.pyth)"
        )
    return state
