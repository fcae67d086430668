"""State dicts as read from a file: unwrap the training envelope, compare keys with a model.

Shared by the generic loader (``loading``) and the VOS releases (``vos_release``), which both
refuse a file that leaves a model key unfilled or brings one the model lacks.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from staticdyn.errors import StaticDynError

# Keys under which training code bases nest the weights, outermost first.
WRAPPER_KEYS = ("model_state", "state_dict", "model", "module", "blobs")
BN_COUNTER = "num_batches_tracked"


def _to_tensor(value: Any) -> Any:
    """A numpy array as a tensor. ``np.require`` rather than ``np.ascontiguousarray``, which
    turns a 0-d array (a pickled ``num_batches_tracked``) into shape (1,)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.require(value, requirements=["C", "W"]))
    return value


def extract_state_dict(obj: Any, path: str | Path = "") -> dict[str, torch.Tensor]:
    """Unwrap the training-code envelope and return ``{key: tensor}``.

    Non-tensor entries (Caffe2's ``lr``/``model_iter``, counters) are dropped: they are not
    weights. A shared ``module.`` prefix (DistributedDataParallel) is removed.
    """
    while isinstance(obj, Mapping):
        inner = next((obj[k] for k in WRAPPER_KEYS if isinstance(obj.get(k), Mapping)), None)
        if inner is None:
            break
        obj = inner
    if not isinstance(obj, Mapping):
        where = f"'{path}' " if path else ""
        raise StaticDynError(f"checkpoint {where}holds {type(obj).__name__}, not a state dict")
    state = {str(k): _to_tensor(v) for k, v in obj.items()}
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module."):]: v for k, v in state.items()}
    return state


def target_keys(model: nn.Module) -> dict[str, tuple[int, ...]]:
    """Key -> shape of everything the model's state dict holds."""
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def compare_keys(
    state: Mapping[str, torch.Tensor], target: Mapping[str, tuple[int, ...]]
) -> tuple[list[str], list[str], list[str]]:
    """(missing, unexpected, shape mismatches) of ``state`` against ``target``.

    BatchNorm's ``num_batches_tracked`` counts as present when the file has none: Caffe2 and
    some converted files never stored it, and it does not change the forward pass in eval mode.
    """
    missing = [k for k in target if k not in state and not k.endswith(BN_COUNTER)]
    unexpected = [k for k in state if k not in target]
    mismatch = [
        f"{k}: file {tuple(state[k].shape)} vs model {target[k]}"
        for k in target
        if k in state and tuple(state[k].shape) != tuple(target[k])
    ]
    return missing, unexpected, mismatch
