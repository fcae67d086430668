"""FeatureStore: append, markers, torn-write truncation, identity refusal."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from staticdyn.errors import ConfigMismatchError
from staticdyn.store.h5 import FeatureStore


def _rows(start: int, k: int) -> dict[str, list]:
    return {
        "index": list(range(start, start + k)), "group": list(range(start, start + k)),
        "factor": [i % 2 for i in range(k)], "video": [f"v{i}" for i in range(k)],
        "style_a": ["style_0"] * k, "style_b": ["style_1"] * k, "seed": [7] * k,
        "start": [0] * k,
    }


def _feats(k: int, seed: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return {"stage1": (rng.normal(size=(k, 3)), rng.normal(size=(k, 3)))}


def test_append_and_resume(tmp_path: Path) -> None:
    p = tmp_path / "f.h5"
    with FeatureStore(p, {"model": "m"}, {"model.name": "m"}) as s:
        s.set_layers({"stage1": "blocks.0"})
        s.append(_rows(0, 4), _feats(4, 0), groups_done=4, forwards=8)
    with FeatureStore(p, {"model": "m"}, {"model.name": "m"}) as s:
        assert (s.n_rows, s.n_groups, s.complete) == (4, 4, False)
        s.append(_rows(4, 2), _feats(2, 1), groups_done=6, skipped=[(6, "v9@style_0", "bad")])
        s.finish()
    with h5py.File(p) as f:
        assert f["features/stage1/a"].shape == (6, 3)
        assert f["features/stage1"].attrs["module"] == "blocks.0"
        assert f["pairs/index"][:].tolist() == list(range(6))
        assert f.attrs["forwards"] == 8 and bool(f.attrs["complete"])
        assert f["pairs/factor"].dtype == np.int8
        assert [x.decode() for x in f["skipped/item"][:]] == ["v9@style_0"]


def test_rows_past_the_marker_are_cut(tmp_path: Path) -> None:
    p = tmp_path / "f.h5"
    with FeatureStore(p, {}, {}) as s:
        s.append(_rows(0, 3), _feats(3, 0), groups_done=3)
    # simulate a kill after rows were written but before the marker was committed
    with h5py.File(p, "a") as f:
        for name in ("a", "b"):
            ds = f["features/stage1"][name]
            ds.resize(5, axis=0)
            ds[3:5] = 99.0
        f["pairs/index"].resize(5, axis=0)
    with FeatureStore(p, {}, {}) as s:
        assert s.n_rows == 3
        assert s.f["features/stage1/a"].shape == (3, 3)
        assert s.f["pairs/index"].shape == (3,)


def test_different_config_is_refused_with_keys(tmp_path: Path) -> None:
    p = tmp_path / "f.h5"
    with FeatureStore(p, {}, {"model.name": "a", "probe.seed": 0}) as s:
        s.append(_rows(0, 1), _feats(1, 0), groups_done=1)
    with pytest.raises(ConfigMismatchError, match=r"probe\.seed: stored='0' now='1'"):
        FeatureStore(p, {}, {"model.name": "a", "probe.seed": 1})


def test_two_writers_never_share_a_file(tmp_path: Path) -> None:
    from staticdyn.errors import StaticDynError

    p = tmp_path / "f.h5"
    with FeatureStore(p, {}, {}):
        with pytest.raises(StaticDynError, match="another process is writing"):
            FeatureStore(p, {}, {})
    with FeatureStore(p, {}, {}) as s:  # released on close
        assert s.n_rows == 0


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_check_refuses_what_opening_would_without_writing(tmp_path: Path) -> None:
    from staticdyn.errors import StaticDynError

    p = tmp_path / "f.h5"
    FeatureStore.check(p, {"model.name": "a"})  # nothing there yet: fine, nothing created
    assert list(tmp_path.iterdir()) == []
    with FeatureStore(p, {}, {"model.name": "a"}) as s:  # unfinished: checked via the journal
        s.append(_rows(0, 2), _feats(2, 0), groups_done=2)
        before = _files(tmp_path)
        with pytest.raises(StaticDynError, match="another process is writing"):
            FeatureStore.check(p, {"model.name": "a"})
        assert _files(tmp_path) == before
    FeatureStore.check(p, {"model.name": "a"})
    with pytest.raises(ConfigMismatchError, match=r"model\.name: stored='a' now='b'"):
        FeatureStore.check(p, {"model.name": "b"})
    with FeatureStore(p, {}, {"model.name": "a"}) as s:  # finished: checked via the h5 attrs
        s.finish()
    before = _files(tmp_path)
    with pytest.raises(ConfigMismatchError, match="model.name"):
        FeatureStore.check(p, {"model.name": "b"})
    assert _files(tmp_path) == before


def test_a_corrupt_file_is_named_in_one_line(tmp_path: Path) -> None:
    from staticdyn.errors import StoreUnreadableError

    p = tmp_path / "features.h5"
    p.write_bytes(b"\x00garbage, not HDF5")
    for attempt in (lambda: FeatureStore.check(p, {}), lambda: FeatureStore(p, {}, {})):
        with pytest.raises(StoreUnreadableError) as info:
            attempt()
        msg = str(info.value)
        assert str(p) in msg and "delete it" in msg and "\n" not in msg
    assert p.read_bytes() == b"\x00garbage, not HDF5"


def test_a_corrupt_journal_is_named_in_one_line(tmp_path: Path) -> None:
    from staticdyn.errors import StoreUnreadableError

    p = tmp_path / "f.h5"
    with FeatureStore(p, {}, {}) as s:
        s.append(_rows(0, 1), _feats(1, 0), groups_done=1)
    meta = tmp_path / "f.h5.journal" / "meta.json"
    meta.write_text("{not json")
    with pytest.raises(StoreUnreadableError, match=r"meta\.json is unreadable.*delete"):
        FeatureStore.check(p, {})
