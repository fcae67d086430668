"""Merge the shards of one run into the file the unsharded run would have written.

Shards are checked before anything is written: all complete, all from the same run (identity
equal except the shard number), each shard number present exactly once, and their planned
group ranges contiguous. Rows are concatenated in shard order, so the merged rows equal the
unsharded run's rows in content and order when no group was replaced (a shard's replacements
follow its own rows); moments and counts (rows, skips, forwards, cycled clips) add up.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np
import yaml

from staticdyn.errors import StaticDynError
from staticdyn.store.h5 import PAIR_FIELDS, SKIP_FIELDS
from staticdyn.store.summary import compute_summary, read_summary, write_summary

SHARD_KEYS = ("probe.shard", "probe.num_shards")


def _identity(f: h5py.File) -> dict[str, str]:
    return {k[len("identity."):]: str(v) for k, v in f.attrs.items() if k.startswith("identity.")}


def _unsharded_config(text: str) -> str:
    cfg = yaml.safe_load(text) or {}
    cfg.setdefault("probe", {}).update({"shard": 0, "num_shards": 1})
    return yaml.safe_dump(cfg, sort_keys=False)


def check_shards(files: list[h5py.File], paths: Sequence[Path]) -> list[int]:
    """Order of the shards (by shard number) after validating that they form one run."""
    if not files:
        raise StaticDynError("merge needs at least one shard file")
    ids = [_identity(f) for f in files]
    base = {k: v for k, v in ids[0].items() if k not in SHARD_KEYS}
    for p, ident in zip(paths, ids, strict=True):
        other = {k: v for k, v in ident.items() if k not in SHARD_KEYS}
        diff = sorted(k for k in set(base) | set(other) if base.get(k) != other.get(k))
        if diff:
            raise StaticDynError(f"{p} is not a shard of the same run as {paths[0]}: "
                                 f"differing keys {', '.join(diff[:8])}")
    for p, f in zip(paths, files, strict=True):
        if not bool(f.attrs.get("complete", False)):
            raise StaticDynError(f"shard {p} is not complete; finish it (rerun its command)")
    num = {int(f.attrs["num_shards"]) for f in files}
    if len(num) != 1:
        raise StaticDynError(f"shards disagree on num_shards: {sorted(num)}")
    n = num.pop()
    shards = [int(f.attrs["shard"]) for f in files]
    missing = sorted(set(range(n)) - set(shards))
    dups = sorted({s for s in shards if shards.count(s) > 1})
    if missing or dups:
        raise StaticDynError(f"need shards 0..{n - 1} once each; missing {missing}, "
                             f"duplicated {dups}")
    order = sorted(range(len(files)), key=lambda i: shards[i])
    expect = 0
    for i in order:
        first = int(files[i].attrs["first_group"])
        if first != expect:
            raise StaticDynError(f"shard {shards[i]} starts at group {first}, expected {expect}: "
                                 "shards were run with different batch sizes or pair counts")
        expect = first + _planned_groups(files[i])
    return order


def _planned_groups(f: h5py.File) -> int:
    """Groups the shard was given; ``n_groups`` also counts the replacements it drew for
    groups that went bad (files written before ``shard_groups`` have none)."""
    return int(f.attrs.get("shard_groups", f.attrs["n_groups"]))


def summed_moments(paths: Sequence[str | Path]) -> dict:
    """The shards' stored moments added up: a report without reading any feature row."""
    out: dict = {}
    for p in paths:
        with h5py.File(p, "r") as f:
            for layer, per in read_summary(f).items():
                cur = out.setdefault(layer, {})
                for fac, m in per.items():
                    cur[fac] = cur[fac] + m if fac in cur else m
    return out


def merge_shards(out: str | Path, shard_paths: Sequence[str | Path]) -> Path:
    out = Path(out)
    paths = [Path(p) for p in shard_paths]
    if out.exists():
        raise StaticDynError(f"{out} exists; merge writes a new file")
    files = [h5py.File(p, "r") for p in paths]
    try:
        order = check_shards(files, paths)
        ordered = [files[i] for i in order]
        first = ordered[0]
        with h5py.File(out, "w") as g:
            for k, v in first.attrs.items():
                g.attrs[k] = v
            g.attrs["config"] = _unsharded_config(str(first.attrs["config"]))
            g.attrs["identity.probe.shard"] = "0"
            g.attrs["identity.probe.num_shards"] = "1"
            g.attrs.update({"shard": 0, "num_shards": 1, "first_group": 0})
            n_rows = sum(int(f.attrs["n_rows"]) for f in ordered)
            forwards = sum(int(f.attrs["forwards"]) for f in ordered)
            g.attrs.update({
                "n_rows": n_rows, "n_groups": sum(int(f.attrs["n_groups"]) for f in ordered),
                "n_skipped": sum(int(f.attrs["n_skipped"]) for f in ordered),
                "forwards": forwards, "forwards_per_pair": forwards / max(n_rows, 1),
                "shard_groups": sum(_planned_groups(f) for f in ordered),
                "merged_from": [str(paths[i]) for i in order],
            })
            if any("cycled_groups" in f.attrs for f in ordered):
                g.attrs["cycled_groups"] = sum(int(f.attrs.get("cycled_groups", 0))
                                               for f in ordered)
            for name in PAIR_FIELDS:
                data = np.concatenate([f["pairs"][name][: int(f.attrs["n_rows"])]
                                       for f in ordered])
                g.create_dataset(f"pairs/{name}", data=data, maxshape=(None,),
                                 chunks=first["pairs"][name].chunks)
            for name in SKIP_FIELDS:
                data = np.concatenate([f["skipped"][name][: int(f.attrs["n_skipped"])]
                                       for f in ordered])
                g.create_dataset(f"skipped/{name}", data=data, maxshape=(None,),
                                 chunks=first["skipped"][name].chunks,
                                 dtype=first["skipped"][name].dtype)
            for layer, lg in first["features"].items():
                dst = g.require_group(f"features/{layer}")
                for k, v in lg.attrs.items():
                    dst.attrs[k] = v
                for m in ("a", "b"):
                    data = np.concatenate([f["features"][layer][m][: int(f.attrs["n_rows"])]
                                           for f in ordered])
                    dst.create_dataset(m, data=data, maxshape=(None, data.shape[1]),
                                       chunks=lg[m].chunks)
            # Recomputed from the merged rows (same chunking as an unsharded run) so the file
            # is identical to the last bit; adding the shards' moments agrees to rounding.
            write_summary(g, compute_summary(g))
            g.attrs["complete"] = True
    finally:
        for f in files:
            f.close()
    return out
