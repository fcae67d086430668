"""Sharded runs replace groups that go bad during the run, as an unsharded run does: each shard
still delivers its share, the same seed gives the same replacements, and the shards merge."""

from __future__ import annotations

from pathlib import Path

import h5py
import pytest

from staticdyn.data.video_folder import VideoFolderSource
from staticdyn.errors import VideoReadError
from staticdyn.pipeline import run
from staticdyn.store.merge import merge_shards
from tests.data.test_scan import make_bad_folder
from tests.helpers.configs import make_cfg


def _cfg(out: Path, root: Path, over: list[str] = ()):
    cfg = make_cfg(out, ["model=toy3d", "model.clip.crop=32", "model.clip.short_side=32",
                         "probe.n_pairs=12", "probe.batch_size=6", "probe.bootstrap=0",
                         "probe.num_workers=0", *over])
    cfg.dataset = {"_target_": "staticdyn.data.video_folder.VideoFolderSource", "name": "vf",
                   "root": str(root), "num_styles": 4, "seed": 0}
    return cfg


def _pairs(path: Path) -> list[tuple]:
    with h5py.File(path) as f:
        cols = sorted(f["pairs"])
        return [dict(zip(cols, row, strict=True)) for row in
                zip(*(f["pairs"][k][:].tolist() for k in cols), strict=True)]


def _video(p: dict) -> str:
    v = p["video"]
    return v.decode() if isinstance(v, bytes) else v


def test_shards_replace_bad_groups_deterministically_and_merge(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # 12 pairs (6 groups of 2) use 6 of the 10 videos: 4 unused, 2 for each shard
    root = make_bad_folder(tmp_path / "videos", n_good=10)
    shard = ["probe.num_shards=2"]
    ref = [_pairs(run(_cfg(tmp_path / f"ref{i}", root, [*shard, f"probe.shard={i}"]))
                  ["features"]) for i in range(2)]
    assert [len(r) for r in ref] == [4, 8]
    bad = {_video(ref[0][0]), _video(ref[1][-1])}  # one video in each shard goes bad
    original = VideoFolderSource.read_frames

    def flaky(self, v, style, indices):  # noqa: ANN001, ANN202
        if v in bad:
            raise VideoReadError("went bad after the scan")
        return original(self, v, style, indices)

    monkeypatch.setattr(VideoFolderSource, "read_frames", flaky)
    res = [run(_cfg(tmp_path / f"s{i}", root, [*shard, f"probe.shard={i}"])) for i in range(2)]
    again = run(_cfg(tmp_path / "again0", root, [*shard, "probe.shard=0"]))
    got = [_pairs(r["features"]) for r in res]
    assert [len(g) for g in got] == [4, 8]  # every shard delivers its share
    assert [r["skipped"] for r in res] == [1, 1]
    assert got[0] == _pairs(again["features"])  # same seed, same replacements
    used = {_video(p) for r in ref for p in r}
    new = [{_video(p) for p in g if _video(p) not in used} for g in got]
    assert all(new) and not new[0] & new[1]  # unused videos only, none drawn by both shards
    indices = [p["index"] for g in got for p in g]
    groups = [p["group"] for g in got for p in g]
    assert len(set(indices)) == len(indices) == 12
    assert len({(p["group"], p["factor"]) for g in got for p in g}) == len(groups)
    merged = merge_shards(tmp_path / "merged.h5", [r["features"] for r in res])
    with h5py.File(merged) as f:
        assert int(f.attrs["n_rows"]) == 12 and int(f.attrs["n_skipped"]) == 2
        assert int(f.attrs["shard_groups"]) == 6


def test_an_unsharded_run_numbers_replacements_right_after_its_pairs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_bad_folder(tmp_path / "videos", n_good=8)
    ref = _pairs(run(_cfg(tmp_path / "ref", root))["features"])
    bad = _video(ref[0])
    original = VideoFolderSource.read_frames

    def flaky(self, v, style, indices):  # noqa: ANN001, ANN202
        if v == bad:
            raise VideoReadError("went bad after the scan")
        return original(self, v, style, indices)

    monkeypatch.setattr(VideoFolderSource, "read_frames", flaky)
    got = _pairs(run(_cfg(tmp_path / "a", root))["features"])
    assert len(got) == 12
    new = [p for p in got if p not in ref]
    assert sorted(p["index"] for p in new) == [12, 13]  # after the run's 12 pairs
    assert {p["group"] for p in new} == {6}  # after its 6 groups
