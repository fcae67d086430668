"""Load a checkpoint file into a zoo model, strictly, from a local path only.

Strictness is the point: a checkpoint that silently leaves half of the layers at their random
initialisation still gives static/dynamic numbers, just meaningless ones. The SlowFast code
base loads non-strictly (only shape-matching keys), which hides exactly that failure, so
staticdyn checks every key itself and names the missing and unexpected ones.

Formats read:
- PyTorchVideo model zoo ``.pyth``: ``{"model_state": sd}`` in the layout of the built module;
  loads as it is.
- SlowFast / TimeSformer ``.pyth`` (``{"model_state": ...}``), mmaction2 ``.pth``
  (``{"state_dict": ...}``), plain state dicts, DDP ``module.`` prefixes.
- Caffe2 ``.pkl`` pickles (``{"blobs": {name: ndarray}}``), which need ``encoding="latin1"``.
Layouts other than the built module's are handed to ``staticdyn.models.checkpoints.convert``.
"""

from __future__ import annotations

import logging
import pickle
import warnings
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from staticdyn.errors import CheckpointMismatchError, StaticDynError

log = logging.getLogger(__name__)

Converter = Callable[[dict[str, torch.Tensor], str, dict[str, tuple[int, ...]]],
                     dict[str, torch.Tensor]]

# Keys under which training code bases nest the weights, outermost first.
WRAPPER_KEYS = ("model_state", "state_dict", "model", "module", "blobs")
BN_COUNTER = "num_batches_tracked"
# PyTorchVideo after 0.1.5 also exposes MViT's attention pools under these names; they alias
# tensors already present under pool_q/norm_q etc., so a 0.1.5 module simply lacks them.
ALIAS_MARKERS = ("._attention_pool_",)


def read_checkpoint(path: str | Path) -> Any:
    """Read a checkpoint file on the CPU without executing code from it where possible.

    ``weights_only=True`` refuses arbitrary pickled objects. Legacy files need more: Caffe2
    pickles were written by Python 2 (``latin1``), and some training code bases pickle
    config objects or numpy scalars next to the weights. Those fall back to a full unpickle,
    with a warning, because the user named the file explicitly.
    """
    path = Path(path)
    if not path.is_file():
        raise StaticDynError(f"checkpoint file not found: {path}")
    if path.suffix == ".pkl" and not zipfile.is_zipfile(path):
        with path.open("rb") as fh:
            try:
                return pickle.load(fh, encoding="latin1")
            except Exception as exc:  # noqa: BLE001 - any failure: try torch's reader below
                log.debug("plain pickle of %s failed (%s); trying torch.load", path, exc)
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        warnings.warn(
            f"{path}: not loadable with weights_only=True ({str(exc).splitlines()[0]}); "
            "unpickling it in full. Only do this with files you trust.",
            stacklevel=2,
        )
        return torch.load(path, map_location="cpu", weights_only=False)


def _to_tensor(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    return value


def extract_state_dict(obj: Any) -> dict[str, torch.Tensor]:
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
        raise StaticDynError(f"checkpoint holds {type(obj).__name__}, not a state dict")
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


def _drop_aliases(
    state: dict[str, torch.Tensor], target: Mapping[str, tuple[int, ...]]
) -> dict[str, torch.Tensor]:
    """Remove duplicate alias keys the built module does not have (see ALIAS_MARKERS)."""
    return {
        k: v for k, v in state.items()
        if k in target or not any(m in k for m in ALIAS_MARKERS)
    }


def _default_converter() -> Converter | None:
    """The layout converter, if that module is installed in this tree (it is optional here)."""
    try:
        from staticdyn.models.checkpoints.convert import convert_to_pytorchvideo
    except ImportError:
        return None
    return convert_to_pytorchvideo


def fit_state_dict(
    state: dict[str, torch.Tensor],
    model: nn.Module,
    entry: str,
    path: str | Path,
    converters: list[Converter] | None = None,
) -> dict[str, torch.Tensor]:
    """Return a state dict that fits ``model`` exactly, converting the layout if needed.

    Raises CheckpointMismatchError against the file's own keys when no converter helps, since
    those are what the user can recognise.
    """
    target = target_keys(model)
    state = _drop_aliases(state, target)
    missing, unexpected, mismatch = compare_keys(state, target)
    if not (missing or unexpected or mismatch):
        return state
    if converters is None:
        default = _default_converter()
        converters = [default] if default else []
    reasons: list[str] = []
    for convert in converters:
        try:
            converted = convert(dict(state), entry, target)
        except ValueError as exc:
            reasons.append(str(exc))
            continue
        c_missing, c_unexpected, c_mismatch = compare_keys(converted, target)
        if not (c_missing or c_unexpected or c_mismatch):
            return converted
        missing, unexpected, mismatch = c_missing, c_unexpected, c_mismatch
        reasons.append(f"{getattr(convert, '__name__', 'converter')} left keys unmatched")
    err = CheckpointMismatchError(entry, str(path), missing, unexpected, mismatch)
    if reasons:
        # The converter's reason ("cannot tell the layout ...", "stage 4 has 6 blocks, the
        # model 23") is usually what explains the mismatch, so it joins the one-line message.
        err.args = (f"{err.args[0]}. Layout conversion: {'; '.join(reasons)}",)
    raise err


def load_checkpoint(
    model: nn.Module,
    path: str | Path,
    entry: str,
    converters: list[Converter] | None = None,
) -> None:
    """Load ``path`` into ``model`` in place; every model key must be filled, none left over.

    ``converters`` defaults to
    ``staticdyn.models.checkpoints.convert.convert_to_pytorchvideo``; each is called only when
    the keys do not already fit, and signals "not my layout" with ValueError.
    """
    # Models whose released checkpoints have their own format (MATNet: a directory with
    # encoder_<epoch>.pt + decoder_<epoch>.pt) load themselves, with the same strictness.
    release_loader = getattr(model, "load_release_checkpoint", None)
    if callable(release_loader):
        release_loader(path, entry)
        return
    state = extract_state_dict(read_checkpoint(path))
    if not state:
        raise StaticDynError(f"checkpoint '{path}' holds no tensors")
    fitted = fit_state_dict(state, model, entry, path, converters)
    # strict=False only because num_batches_tracked may be absent; fit_state_dict already
    # guaranteed that every other key is present with its shape.
    result = model.load_state_dict(fitted, strict=False)
    left = [k for k in result.missing_keys if not k.endswith(BN_COUNTER)]
    if left or result.unexpected_keys:
        raise CheckpointMismatchError(entry, str(path), left, list(result.unexpected_keys))
