"""Moments give the same metrics as the row-wise formulas, and add up across shards."""

from __future__ import annotations

import numpy as np
import pytest

from staticdyn.metrics.layerwise import layerwise
from staticdyn.metrics.moments import (
    layer_moments,
    layerwise_from_moments,
    unitwise_from_moments,
)
from staticdyn.metrics.unitwise import unitwise
from tests.helpers.planted import planted


def _random(seed: int, n: int = 60, c: int = 40) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    shared = rng.normal(size=(n, c))
    za = shared + 0.7 * rng.normal(size=(n, c)) + 3.0
    zb = shared + 0.7 * rng.normal(size=(n, c)) + 3.0
    za[:, 0] = zb[:, 0] = 2.5  # a dead unit
    return za.astype(np.float32), zb.astype(np.float32), rng.integers(0, 2, size=n)


def test_planted_from_moments() -> None:
    za, zb, factor = planted()
    m = layer_moments(za, zb, factor)
    assert layerwise_from_moments(m) == layerwise(za, zb, factor)
    assert unitwise_from_moments(m, 0.5) == unitwise(za, zb, factor, 0.5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_from_moments_and_merge(seed: int) -> None:
    za, zb, factor = _random(seed)
    direct = layerwise(za, zb, factor)
    m1 = layer_moments(za[:25], zb[:25], factor[:25])
    m2 = layer_moments(za[25:], zb[25:], factor[25:])
    merged = {f: m1[f] + m2[f] for f in m1}
    got = layerwise_from_moments(merged)
    assert got.score_dynamic == pytest.approx(direct.score_dynamic, rel=1e-9)
    assert got.score_static == pytest.approx(direct.score_static, rel=1e-9)
    assert (got.dynamic_units, got.static_units) == (direct.dynamic_units, direct.static_units)
    assert unitwise_from_moments(merged, 0.3) == unitwise(za, zb, factor, 0.3)


def test_paper_estimator_from_moments() -> None:
    za, zb, factor = _random(4)
    got = layerwise_from_moments(layer_moments(za, zb, factor), estimator="paper")
    direct = layerwise(za, zb, factor, estimator="paper")
    assert got.score_dynamic == pytest.approx(direct.score_dynamic, rel=1e-9)
    assert got.score_static == pytest.approx(direct.score_static, rel=1e-9)


def test_chunked_accumulation_adds_up(tmp_path) -> None:  # noqa: ANN001
    import h5py

    from staticdyn.metrics.features_file import FeaturesFile
    from staticdyn.metrics.moments import accumulate_moments

    za, zb, factor = _random(5, n=50, c=7)
    path = tmp_path / "f.h5"
    with h5py.File(path, "w") as f:
        f.attrs["n_rows"] = 50
        f.create_dataset("pairs/factor", data=factor)
        f.create_dataset("features/l/a", data=za)
        f.create_dataset("features/l/b", data=zb)
    whole = layer_moments(za, zb, factor)
    with h5py.File(path) as f:
        one = accumulate_moments(FeaturesFile(f), "l", chunk_rows=50)
        chunked = accumulate_moments(FeaturesFile(f), "l", chunk_rows=8)
    for fac in whole:
        assert one[fac].n == whole[fac].n
        for k in ("sum_a", "sum_b", "sum_aa", "sum_bb", "sum_ab"):  # one chunk: the same sums
            np.testing.assert_array_equal(getattr(one[fac], k), getattr(whole[fac], k))
        assert chunked[fac].n == whole[fac].n
        np.testing.assert_allclose(chunked[fac].sum_ab, whole[fac].sum_ab, rtol=1e-12)
