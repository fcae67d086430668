"""Reading a features.h5 file the way every metric reads it. h5py only, never the store.

One place decides what the rows of a run are: the first ``n_rows`` rows (a file still being
written, or one resumed after a crash, holds preallocated rows past that), the factor label of
each pair, and the layers in the order they were requested (stored as an attribute, because h5
sorts group names). The point estimate, the bootstrap, the lambda sweep and the store's moment
summary all read through here, one layer at a time, so memory stays at one layer.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

import h5py
import numpy as np


def attr_str(value: object) -> str:
    """An HDF5 attribute as text (h5py returns bytes for some string attributes)."""
    return value.decode() if isinstance(value, bytes) else str(value)


class FeaturesFile:
    """An open features file: its rows, factor labels and layers."""

    def __init__(self, f: h5py.File, path: str | Path | None = None) -> None:
        self.f = f
        self.path = Path(path) if path is not None else Path(f.filename)

    @cached_property
    def n_rows(self) -> int:
        return int(self.f.attrs.get("n_rows", self.f["pairs"]["factor"].shape[0]))

    @cached_property
    def factor(self) -> np.ndarray:
        """(n_rows,) int64 factor labels: 0 dynamic, 1 static."""
        return self.f["pairs"]["factor"][: self.n_rows].astype(np.int64)

    @property
    def layer_names(self) -> list[str]:
        """Layers in the order they were requested."""
        if "layers" in self.f.attrs:
            return [attr_str(x) for x in self.f.attrs["layers"]]
        return list(self.f["features"].keys())

    def select(self, layers: Sequence[str] | None = None) -> list[str]:
        """``layers`` checked against the file (KeyError naming the valid ones), else all."""
        names = self.layer_names
        if not layers:
            return names
        unknown = [x for x in layers if x not in names]
        if unknown:
            raise KeyError(f"layers {unknown} are not in {self.path}. Valid: {', '.join(names)}")
        return list(layers)

    def rows(self, layer: str, lo: int = 0, hi: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pair members (a, b) of rows lo..hi (default: every row) of one layer, as stored."""
        g = self.f["features"][layer]
        hi = self.n_rows if hi is None else min(hi, self.n_rows)
        return g["a"][lo:hi], g["b"][lo:hi]

    def meta(self) -> dict[str, str]:
        """The file's attributes as text, without the layer list."""
        return {k: attr_str(v) for k, v in self.f.attrs.items() if k != "layers"}


@contextmanager
def open_features(path: str | Path) -> Iterator[FeaturesFile]:
    """Open a features file read-only; a missing file is a FileNotFoundError naming it."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"features file not found: {path}")
    with h5py.File(path, "r") as f:
        yield FeaturesFile(f, path)
