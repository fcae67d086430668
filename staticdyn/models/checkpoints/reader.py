"""Reading checkpoint files of the reference code bases without executing arbitrary pickles.

PyTorch files (.pyth/.pth/.pt) go through ``torch.load(weights_only=True)``. Caffe2 zoo files
(.pkl) are Python-2 pickles of numpy arrays; they are read with latin1 (as the SlowFast loader
does) through an unpickler that only admits the numpy/builtin classes such a file needs, so a
tampered file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import torch

from staticdyn.models.checkpoints.convert.common import CheckpointLayoutError

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
    ("__builtin__", "dict"),
    # protocol-2 pickles written by Python 3 encode bytes as _codecs.encode(text, 'latin1')
    ("_codecs", "encode"),
}


class _ArrayUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED:
            raise CheckpointLayoutError(
                f"Caffe2 pickle refers to {module}.{name}; only numpy arrays are allowed"
            )
        if module == "__builtin__":
            module = "builtins"
        if module == "numpy.core.multiarray":  # numpy 2 moved it; the old path warns
            module = "numpy._core.multiarray"
        return super().find_class(module, name)


def read_caffe2_pickle(path: str | Path) -> dict[str, Any]:
    """``{'blobs': {name: ndarray}, ...}`` of a SlowFast-zoo Caffe2 pickle."""
    with open(path, "rb") as f:
        data = _ArrayUnpickler(f, encoding="latin1").load()
    if not isinstance(data, dict) or not isinstance(data.get("blobs"), dict):
        raise CheckpointLayoutError(f"'{path}' is a pickle but has no 'blobs' dict")
    return data


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint file as the dict its code base wrote (container included)."""
    path = Path(path)
    if path.suffix == ".pkl":
        return read_caffe2_pickle(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        raise CheckpointLayoutError(
            f"'{path}' holds objects other than tensors and plain values ({exc}); "
            "refusing to unpickle it"
        ) from exc
    if not isinstance(data, dict):
        raise CheckpointLayoutError(f"'{path}' holds a {type(data).__name__}, not a dict")
    return data
