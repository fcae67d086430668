"""An append-only journal of committed batches: the crash-safe truth behind features.h5.

HDF5 is not crash-safe: a process killed mid-write can leave a file that does not open, or one
whose rows below the last flush are damaged (seen here under repeated SIGKILL). So every batch
is first written as one segment file (``seg_<k>.npz``): written to a temporary name, fsynced,
then renamed, which is atomic. A segment either exists whole or not at all; a torn one is a
leftover ``*.tmp`` and is deleted. The segment count is the durable progress marker.
On resume features.h5 is rebuilt from the segments (no model needed), so a damaged HDF5 file
can never leak into results. The journal is deleted once the run is complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from staticdyn.errors import StoreUnreadableError

META = "meta.json"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


class Journal:
    """Directory of numbered segments plus a JSON meta file."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def exists(self) -> bool:
        return (self.root / META).exists()

    def create(self, meta: Mapping[str, Any]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self.write_meta(meta)

    def read_meta(self) -> dict[str, Any]:
        path = self.root / META
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError
            raise StoreUnreadableError(
                f"{path} is unreadable ({type(exc).__name__}: {str(exc).splitlines()[0]}); "
                f"delete {self.root} and the features.h5 beside it to start this run over, "
                "or use another output directory"
            ) from None

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        data = json.dumps(dict(meta), default=str).encode()
        _atomic_write(self.root / META, lambda fh: fh.write(data))

    def segments(self) -> list[Path]:
        """Whole segments, in order; removes torn leftovers and anything after a gap."""
        for tmp in self.root.glob("*.tmp"):
            tmp.unlink()
        segs = sorted(self.root.glob("seg_*.npz"))
        out = []
        for k, p in enumerate(segs):
            if p.name != f"seg_{k:08d}.npz":
                for later in segs[k:]:
                    later.unlink()
                break
            out.append(p)
        return out

    def append(self, arrays: Mapping[str, np.ndarray]) -> Path:
        path = self.root / f"seg_{len(self.segments()):08d}.npz"
        _atomic_write(path, lambda fh: np.savez(fh, **arrays))
        return path

    @staticmethod
    def load(path: Path) -> dict[str, np.ndarray]:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}

    def remove(self) -> None:
        if not self.root.exists():
            return
        for p in self.root.iterdir():
            p.unlink()
        self.root.rmdir()
