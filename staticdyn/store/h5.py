"""One ``features.h5`` per run, appended in order as pairs complete.

Layout:
- root attrs: ``config`` (resolved YAML), ``staticdyn_version``, ``model``, ``dataset``,
  ``factor_names`` = [dynamic, static], ``sampler``, ``layers`` (request order), progress
  markers ``n_rows`` / ``n_groups`` / ``n_skipped``, ``forwards``, ``cycled_groups`` (groups
  whose video is shorter than the clip window), and ``complete``.
- ``/pairs/*``: one row per pair (index, group, factor int8, video, style_a, style_b, seed,
  start): enough to rebuild every pair.
- ``/features/<layer>/a`` and ``/b``: float32 (N, C), attr ``module`` = hooked module path.
- ``/skipped/*``: items that could not be read (group, item, reason).
- ``/summary/<layer>/<factor>/*``: mergeable moments, written when the run completes.

Crash safety: each batch is committed to a journal (``features.h5.journal/``, see journal.py)
before it is appended to the HDF5 file. Reopening an unfinished run rebuilds the HDF5 file from
the journal, so a run killed at any point resumes with exactly the committed batches.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import h5py
import numpy as np

from staticdyn.errors import ConfigMismatchError, StaticDynError, StoreUnreadableError
from staticdyn.store.journal import Journal
from staticdyn.version import __version__

STR = h5py.string_dtype(encoding="utf-8")
PAIR_FIELDS: dict[str, object] = {
    "index": np.int64, "group": np.int64, "factor": np.int8, "video": STR,
    "style_a": STR, "style_b": STR, "seed": np.uint64, "start": np.int32,
}
SKIP_FIELDS: dict[str, object] = {"group": np.int64, "item": STR, "reason": STR}
_NUMPY_DTYPES = {"index": np.int64, "group": np.int64, "factor": np.int8, "seed": np.uint64,
                 "start": np.int32}


def _grow(ds: h5py.Dataset, values: np.ndarray | list, start: int) -> None:
    n = len(values)
    ds.resize(start + n, axis=0)
    ds[start : start + n] = values


def _as_array(name: str, values: Sequence[object]) -> np.ndarray:
    if name in _NUMPY_DTYPES:
        return np.asarray(values, dtype=_NUMPY_DTYPES[name]).reshape(-1)
    return np.asarray([str(v) for v in values], dtype=np.str_).reshape(-1)


def _open_h5(path: Path, mode: str) -> h5py.File:
    """``h5py.File`` with a damaged file reported in one line naming it and the way out."""
    try:
        return h5py.File(path, mode)
    except OSError as exc:
        raise StoreUnreadableError(
            f"{path} is not a readable HDF5 file ({str(exc).splitlines()[0]}); delete it to "
            "start this run over, or use another output directory (hydra.run.dir=...)"
        ) from None


def _stored_identity(f: h5py.File) -> dict[str, str]:
    return {k[len("identity."):]: str(v) for k, v in f.attrs.items() if k.startswith("identity.")}


def identity_diff(stored: Mapping[str, str], now: Mapping[str, str]) -> list[str]:
    keys = sorted(set(stored) | set(now))
    return [k for k in keys if stored.get(k) != now.get(k)]


class FeatureStore:
    """Append-only writer with crash-safe resume. Use as a context manager."""

    def __init__(
        self,
        path: str | Path,
        attrs: Mapping[str, object],
        identity: Mapping[str, object] | None = None,
        chunk_rows: int = 256,
    ):
        """Open ``path``, creating it or resuming it.

        ``identity`` is the part of the config that defines the results (model, data, pairs,
        layers). Reopening a run whose stored identity differs raises ConfigMismatchError
        naming the keys, instead of silently mixing two runs in one file.
        """
        self.path = Path(path)
        self.chunk_rows = chunk_rows
        self.f: h5py.File | None = None
        self._lock_fd = self._lock()
        try:
            self._open(attrs, identity)
        except BaseException:
            self.close()
            raise

    def _lock(self) -> int:
        """Exclusive lock for the life of the store: two jobs never write the same file."""
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise self._lock_error(self.path, lock) from None
        return fd

    @classmethod
    def check(cls, path: str | Path, identity: Mapping[str, object] | None,
              deferred: tuple[str, ...] = ()) -> None:
        """Refuse now what opening ``path`` would refuse, without writing anything.

        ``deferred``: prefixes of identity keys not known yet (the data scan's), ignored in
        the stored identity; the pipeline checks again with them once they are known.

        Lock held by another process, an unreadable file or journal, a run with another
        identity: the pipeline calls this before it builds a model or writes into the run
        directory, so a refused run leaves a finished run's directory exactly as it was.
        """
        path = Path(path)
        lock = path.with_name(path.name + ".lock")
        if lock.exists():
            fd = os.open(lock, os.O_RDONLY)
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise cls._lock_error(path, lock) from None
            finally:
                os.close(fd)  # releases the shared lock at once
        identity = {k: str(v) for k, v in (identity or {}).items()}
        journal = Journal(path.with_name(path.name + ".journal"))
        if journal.exists():
            stored = journal.read_meta().get("identity", {})
        elif path.exists():
            with _open_h5(path, "r") as f:
                stored = _stored_identity(f)
        else:
            return
        stored = {k: v for k, v in stored.items() if k in identity or not k.startswith(deferred)}
        cls._check_identity(stored, identity)

    @staticmethod
    def _lock_error(path: Path, lock: Path) -> StaticDynError:
        return StaticDynError(
            f"another process is writing {path} (lock {lock} is held); wait for it or "
            "use another output directory"
        )

    def _open(self, attrs: Mapping[str, object], identity: Mapping[str, object] | None) -> None:
        self.journal = Journal(self.path.with_name(self.path.name + ".journal"))
        identity = {k: str(v) for k, v in (identity or {}).items()}
        if self.journal.exists():
            meta = self.journal.read_meta()
            self._check_identity(meta.get("identity", {}), identity)
            self._rebuild(meta)
        elif self.path.exists():
            self.f = _open_h5(self.path, "a")
            self._check_identity(_stored_identity(self.f), identity)
            if not self.complete:  # no journal: nothing committed can be trusted; restart
                self.f.close()
                self.path.unlink()
                self._create(dict(attrs), identity)
        else:
            self._create(dict(attrs), identity)

    # -- creation and recovery --------------------------------------------------------------
    def _create(self, attrs: dict[str, object], identity: dict[str, str]) -> None:
        attrs = {**attrs, "staticdyn_version": __version__}
        self.journal.create({"attrs": attrs, "identity": identity, "layers": {}})
        self._new_file(attrs, identity)

    def _new_file(self, attrs: Mapping[str, object], identity: Mapping[str, str]) -> None:
        self.f = h5py.File(self.path, "w")
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.f.attrs["factor_names"] = ["dynamic", "static"]
        for k, v in identity.items():
            self.f.attrs[f"identity.{k}"] = v
        pairs = self.f.create_group("pairs")
        for name, dt in PAIR_FIELDS.items():
            pairs.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt,
                                 chunks=(self.chunk_rows,))
        skipped = self.f.create_group("skipped")
        for name, dt in SKIP_FIELDS.items():
            skipped.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dt, chunks=(64,))
        self.f.create_group("features")
        self.f.attrs.update({"n_rows": 0, "n_groups": 0, "n_skipped": 0, "forwards": 0,
                             "complete": False})
        self.f.flush()

    def _rebuild(self, meta: Mapping[str, object]) -> None:
        """Recreate features.h5 from the journal's committed segments."""
        self._new_file(meta["attrs"], meta["identity"])  # type: ignore[arg-type]
        if meta.get("layers"):
            self._set_layers_h5(meta["layers"])  # type: ignore[arg-type]
        for seg in self.journal.segments():
            self._write(Journal.load(seg))

    @staticmethod
    def _check_identity(stored: Mapping[str, str], identity: Mapping[str, str]) -> None:
        diff = identity_diff(stored, identity)
        if diff:
            shown = "; ".join(f"{k}: stored={stored.get(k)!r} now={identity.get(k)!r}"
                              for k in diff[:8])
            if all(k.startswith("data.") for k in diff):
                raise ConfigMismatchError(
                    f"the data set changed since this run started ({shown}): resuming would "
                    "mix two pair lists. Use another output directory (hydra.run.dir=...) or "
                    "delete it to start over")
            raise ConfigMismatchError(
                f"the run directory holds a run with a different config ({shown}). "
                "Use another output directory (hydra.run.dir=...) or delete it to start over"
            )

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

    def _set_layers_h5(self, layers: Mapping[str, str]) -> None:
        self.f.attrs["layers"] = list(layers)
        for name, module in layers.items():
            g = self.f["features"].require_group(name)
            g.attrs["module"] = module

    def set_layers(self, layers: Mapping[str, str]) -> None:
        if self.journal.exists():
            meta = self.journal.read_meta()
            meta["layers"] = dict(layers)
            self.journal.write_meta(meta)
        self._set_layers_h5(layers)

    # -- writing --------------------------------------------------------------------------
    def append(
        self,
        pairs: Mapping[str, Sequence[object]],
        features: Mapping[str, tuple[np.ndarray, np.ndarray]],
        groups_done: int,
        skipped: Sequence[tuple[int, str, str]] = (),
        forwards: int = 0,
        cycled: int = 0,
    ) -> None:
        """Commit one batch (journal first, atomically), then append it to the HDF5 file.

        ``cycled``: groups of the batch whose video is shorter than the clip window (attr
        ``cycled_groups``, an attribute so the file's datasets are unchanged)."""
        seg: dict[str, np.ndarray] = {f"pairs::{k}": _as_array(k, pairs.get(k, []))
                                      for k in PAIR_FIELDS}
        for layer, (a, b) in features.items():
            seg[f"a::{layer}"] = np.asarray(a, dtype=np.float32)
            seg[f"b::{layer}"] = np.asarray(b, dtype=np.float32)
        cols = list(zip(*skipped, strict=True)) if skipped else [[], [], []]
        for name, col in zip(SKIP_FIELDS, cols, strict=True):
            seg[f"skipped::{name}"] = _as_array("group" if name == "group" else name, col)
        seg["groups_done"] = np.asarray(groups_done, dtype=np.int64)
        seg["forwards"] = np.asarray(forwards, dtype=np.int64)
        seg["cycled"] = np.asarray(cycled, dtype=np.int64)
        self.journal.append(seg)
        self._write(seg)

    def _write(self, seg: Mapping[str, np.ndarray]) -> None:
        n0 = self.n_rows
        k = len(seg["pairs::index"])
        for name in PAIR_FIELDS:
            _grow(self.f["pairs"][name], seg[f"pairs::{name}"].tolist() if
                  PAIR_FIELDS[name] is STR else seg[f"pairs::{name}"], n0)
        for key, arr in seg.items():
            if not key.startswith(("a::", "b::")):
                continue
            member, layer = key.split("::", 1)
            g = self.f["features"].require_group(layer)
            if member not in g:
                g.create_dataset(member, shape=(n0, arr.shape[1]), maxshape=(None, arr.shape[1]),
                                 dtype=np.float32, chunks=(self.chunk_rows, arr.shape[1]))
            _grow(g[member], arr, n0)
        s0 = int(self.f.attrs["n_skipped"])
        n_skip = len(seg["skipped::item"])
        if n_skip:
            for name in SKIP_FIELDS:
                col = seg[f"skipped::{name}"]
                _grow(self.f["skipped"][name], col.tolist() if name != "group" else col, s0)
        self.f.attrs["n_rows"] = n0 + k
        self.f.attrs["n_groups"] = int(seg["groups_done"])
        self.f.attrs["n_skipped"] = s0 + n_skip
        self.f.attrs["forwards"] = int(self.f.attrs["forwards"]) + int(seg["forwards"])
        if "cycled" in seg:  # journals written before the count have none
            self.f.attrs["cycled_groups"] = (int(self.f.attrs.get("cycled_groups", 0))
                                             + int(seg["cycled"]))
        self.f.flush()

    def finish(self, **attrs: object) -> None:
        """Mark the run complete (after storing the mergeable moments); drop the journal."""
        from staticdyn.store.summary import compute_summary, write_summary

        write_summary(self.f, compute_summary(self.f))
        for k, v in attrs.items():
            self.f.attrs[k] = v
        self.f.attrs["complete"] = True
        self.f.flush()
        self.f.close()
        self.journal.remove()
        self.f = h5py.File(self.path, "a")

    def skipped(self) -> list[tuple[int, str, str]]:
        g = self.f["skipped"]
        n = int(self.f.attrs["n_skipped"])
        items = [x.decode() if isinstance(x, bytes) else x for x in g["item"][:n]]
        reasons = [x.decode() if isinstance(x, bytes) else x for x in g["reason"][:n]]
        return list(zip(g["group"][:n].tolist(), items, reasons, strict=True))

    def close(self) -> None:
        if self.f is not None and self.f.id.valid:
            self.f.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = None

    def __enter__(self) -> FeatureStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
