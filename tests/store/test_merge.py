"""Sharded runs merge into exactly the unsharded run's file and tables."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from staticdyn.errors import StaticDynError
from staticdyn.metrics.analyze import analyze_h5
from staticdyn.metrics.moments import layerwise_from_moments
from staticdyn.pipeline import run
from staticdyn.store.__main__ import main as store_main
from staticdyn.store.summary import read_summary
from tests.helpers.configs import make_cfg

OVER = ["model=toy3d", "probe.n_pairs=16", "probe.batch_size=6"]


def _content(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out = {}
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
        return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("shards")
    full = run(make_cfg(root / "full", OVER))["features"]
    shards = [run(make_cfg(root / f"s{i}", [*OVER, f"probe.shard={i}", "probe.num_shards=3"]))
              ["features"] for i in range(3)]
    return {"full": full, **{f"s{i}": p for i, p in enumerate(shards)}, "root": root}


def test_merge_equals_unsharded(runs: dict[str, Path]) -> None:
    out = runs["root"] / "merged.h5"
    # shards given out of order on purpose
    assert store_main(["merge", str(out), str(runs["s2"]), str(runs["s0"]), str(runs["s1"])]) == 0
    a, b = _content(runs["full"]), _content(out)
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k
    ta, tb = analyze_h5(runs["full"]), analyze_h5(out)
    pd.testing.assert_frame_equal(ta.layerwise, tb.layerwise)
    pd.testing.assert_frame_equal(ta.unitwise, tb.unitwise)
    pd.testing.assert_frame_equal(ta.unit_scores, tb.unit_scores)
    with h5py.File(out) as f:
        assert int(f.attrs["num_shards"]) == 1 and bool(f.attrs["complete"])
        summ = read_summary(f)
    # the stored moments reproduce the layer-wise table without reading rows
    for layer, row in ta.layerwise.set_index("layer").iterrows():
        res = layerwise_from_moments(summ[layer])
        assert (res.dynamic_units, res.static_units) == (row.dynamic_units, row.static_units)


def test_merge_refuses_incomplete_sets(runs: dict[str, Path], capsys) -> None:
    out = runs["root"] / "bad.h5"
    assert store_main(["merge", str(out), str(runs["s0"]), str(runs["s2"])]) == 2
    assert "missing [1]" in capsys.readouterr().err
    from staticdyn.store.merge import merge_shards

    with pytest.raises(StaticDynError, match="num_shards"):
        merge_shards(runs["root"] / "bad2.h5", [runs["s0"], runs["full"]])


def test_shard_moments_add_up(runs: dict[str, Path]) -> None:
    from staticdyn.store.merge import summed_moments

    summed = summed_moments([runs[f"s{i}"] for i in range(3)])
    with h5py.File(runs["full"]) as f:
        full = read_summary(f)
    for layer in full:
        for fac in full[layer]:
            assert summed[layer][fac].n == full[layer][fac].n
            np.testing.assert_allclose(summed[layer][fac].sum_ab, full[layer][fac].sum_ab,
                                       rtol=1e-9)


def test_merge_sums_cycled_clips(runs: dict[str, Path]) -> None:
    out = runs["root"] / "merged_cycled.h5"
    store_main(["merge", str(out), *(str(runs[f"s{i}"]) for i in range(3))])
    counts = []
    for i in range(3):
        with h5py.File(runs[f"s{i}"]) as f:
            counts.append(int(f.attrs["cycled_groups"]))
    with h5py.File(runs["full"]) as f:
        full = int(f.attrs["cycled_groups"])
    with h5py.File(out) as f:
        merged = int(f.attrs["cycled_groups"])
    assert min(counts) > 0  # the fake videos (12 frames) are shorter than toy3d's 16 window
    assert merged == sum(counts) == full
