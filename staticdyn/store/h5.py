"""One ``features.h5`` per run, appended in order as pairs complete.

Layout:
- root attrs: ``config`` (resolved YAML), ``staticdyn_version``, ``model``, ``dataset``,
  ``factor_names`` = [dynamic, static], ``sampler``, ``layers`` (request order), progress
  markers ``n_rows`` / ``n_groups`` / ``n_skipped``, ``forwards``, and ``complete``.
- ``/pairs/*``: one row per pair (index, group, factor int8, video, style_a, style_b, seed,
  start) — enough to rebuild every pair.
- ``/features/<layer>/a`` and ``/b``: float32 (N, C), attr ``module`` = hooked module path.
- ``/skipped/*``: items that could not be read (group, item, reason).

Why the markers: rows are written first and the markers last, after a flush. A run killed
between the two leaves rows past ``n_rows``; on reopening they are cut off and redone, so the
file always ends at a whole group and a resumed run equals an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from staticdyn import __version__
from staticdyn.errors import ConfigMismatchError

STR = h5py.string_dtype(encoding="utf-8")
PAIR_FIELDS: dict[str, object] = {
    "index": np.int64, "group": np.int64, "factor": np.int8, "video": STR,
    "style_a": STR, "style_b": STR, "seed": np.uint64, "start": np.int32,
}
SKIP_FIELDS: dict[str, object] = {"group": np.int64, "item": STR, "reason": STR}


def _grow(ds: h5py.Dataset, values: np.ndarray | list, start: int) -> None:
    n = len(values)
    ds.resize(start + n, axis=0)
    ds[start : start + n] = values


class FeatureStore:
    """Append-only writer with resume. Use as a context manager."""

    def __init__(
        self,
        path: str | Path,
        attrs: Mapping[str, object],
        identity: Mapping[str, object] | None = None,
        chunk_rows: int = 256,
    ):
        """Open ``path``, creating it or resuming it.

        ``identity`` is the part of the config that defines the results (model, data, pairs,
        layers). Reopening a file whose stored identity differs raises ConfigMismatchError
        naming the keys, instead of silently mixing two runs in one file.
        """
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        identity = {k: str(v) for k, v in (identity or {}).items()}
        exists = self.path.exists()
        self.f = h5py.File(self.path, "a")
        if exists and "n_rows" in self.f.attrs:
            self._check_identity(identity)
            self._truncate_to_marker()
        else:
            for k, v in attrs.items():
                self.f.attrs[k] = v
            self.f.attrs["staticdyn_version"] = __version__
            self.f.attrs["factor_names"] = ["dynamic", "static"]
            for k, v in identity.items():
                self.f.attrs[f"identity.{k}"] = v
            pairs = self.f.create_group("pairs")
            for name, dt in PAIR_FIELDS.items():
                pairs.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt,
                                     chunks=(chunk_rows,))
            skipped = self.f.create_group("skipped")
            for name, dt in SKIP_FIELDS.items():
                skipped.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(64,))
            self.f.create_group("features")
            self.f.attrs.update({"n_rows": 0, "n_groups": 0, "n_skipped": 0, "forwards": 0,
                                 "complete": False})
            self.f.flush()

    # -- resume -------------------------------------------------------------------------
    def _check_identity(self, identity: Mapping[str, str]) -> None:
        stored = {k[len("identity."):]: str(v) for k, v in self.f.attrs.items()
                  if k.startswith("identity.")}
        keys = sorted(set(stored) | set(identity))
        diff = [k for k in keys if stored.get(k) != identity.get(k)]
        if diff:
            shown = "; ".join(f"{k}: stored={stored.get(k)!r} now={identity.get(k)!r}"
                              for k in diff[:8])
            self.f.close()
            raise ConfigMismatchError(
                f"{self.path} holds a run with a different config ({shown}). "
                "Use another output directory (hydra.run.dir=...) or delete it to start over"
            )

    def _truncate_to_marker(self) -> None:
        """Cut rows written after the last committed marker (a killed or torn write)."""
        n = int(self.f.attrs["n_rows"])
        for ds in self.f["pairs"].values():
            ds.resize(n, axis=0)
        for g in self.f["features"].values():
            for ds in g.values():
                ds.resize(n, axis=0)
        k = int(self.f.attrs["n_skipped"])
        for ds in self.f["skipped"].values():
            ds.resize(k, axis=0)
        self.f.flush()

    # -- progress -------------------------------------------------------------------------
    @property
    def n_rows(self) -> int:
        return int(self.f.attrs["n_rows"])

    @property
    def n_groups(self) -> int:
        """Groups already handled (written or skipped): where a resumed run restarts."""
        return int(self.f.attrs["n_groups"])

    @property
    def complete(self) -> bool:
        return bool(self.f.attrs["complete"])

    def set_layers(self, layers: Mapping[str, str]) -> None:
        self.f.attrs["layers"] = list(layers)
        for name, module in layers.items():
            g = self.f["features"].require_group(name)
            g.attrs["module"] = module

    # -- writing --------------------------------------------------------------------------
    def append(
        self,
        pairs: Mapping[str, Sequence[object]],
        features: Mapping[str, tuple[np.ndarray, np.ndarray]],
        groups_done: int,
        skipped: Sequence[tuple[int, str, str]] = (),
        forwards: int = 0,
    ) -> None:
        """Write one batch of rows, then commit the progress markers."""
        n0 = self.n_rows
        k = len(next(iter(pairs.values()))) if pairs else 0
        for name in PAIR_FIELDS:
            _grow(self.f["pairs"][name], np.asarray(pairs[name]) if k else [], n0)
        for layer, (a, b) in features.items():
            g = self.f["features"].require_group(layer)
            for key, arr in (("a", a), ("b", b)):
                arr = np.asarray(arr, dtype=np.float32)
                if key not in g:
                    g.create_dataset(key, shape=(n0, arr.shape[1]), maxshape=(None, arr.shape[1]),
                                     dtype=np.float32, chunks=(self.chunk_rows, arr.shape[1]))
                _grow(g[key], arr, n0)
        s0 = int(self.f.attrs["n_skipped"])
        if skipped:
            cols = list(zip(*skipped, strict=True))
            for name, col in zip(SKIP_FIELDS, cols, strict=True):
                _grow(self.f["skipped"][name], list(col), s0)
        self.f.flush()
        self.f.attrs["n_rows"] = n0 + k
        self.f.attrs["n_groups"] = groups_done
        self.f.attrs["n_skipped"] = s0 + len(skipped)
        self.f.attrs["forwards"] = int(self.f.attrs["forwards"]) + forwards
        self.f.flush()

    def finish(self, **attrs: object) -> None:
        """Mark the run complete, after storing the mergeable per-factor moments."""
        from staticdyn.store.summary import compute_summary, write_summary

        write_summary(self.f, compute_summary(self.f))
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.f.attrs["complete"] = True
        self.f.flush()

    def skipped(self) -> list[tuple[int, str, str]]:
        g = self.f["skipped"]
        n = int(self.f.attrs["n_skipped"])
        items = [x.decode() if isinstance(x, bytes) else x for x in g["item"][:n]]
        reasons = [x.decode() if isinstance(x, bytes) else x for x in g["reason"][:n]]
        return list(zip(g["group"][:n].tolist(), items, reasons, strict=True))

    def close(self) -> None:
        if self.f.id.valid:
            self.f.close()

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
