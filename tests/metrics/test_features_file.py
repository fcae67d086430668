"""The one reader of features.h5: rows up to n_rows, factor labels, layers in requested order."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from staticdyn.metrics.features_file import FeaturesFile, open_features


@pytest.fixture
def h5(tmp_path: Path) -> Path:
    path = tmp_path / "features.h5"
    with h5py.File(path, "w") as f:
        # 6 rows allocated, 4 written; layers requested as z_last, a_first (h5 sorts names)
        f.attrs.update({"n_rows": 4, "layers": ["z_last", "a_first"], "model": b"toy"})
        f.create_dataset("pairs/factor", data=np.array([0, 1, 1, 0, 9, 9], np.int8))
        for layer, c in (("z_last", 2), ("a_first", 3)):
            f.create_dataset(f"features/{layer}/a", data=np.arange(6 * c, dtype=np.float32)
                             .reshape(6, c))
            f.create_dataset(f"features/{layer}/b", data=-np.ones((6, c), np.float32))
    return path


def test_rows_factor_and_layer_order(h5: Path) -> None:
    with open_features(h5) as src:
        assert src.n_rows == 4
        assert src.factor.tolist() == [0, 1, 1, 0] and src.factor.dtype == np.int64
        assert src.layer_names == ["z_last", "a_first"]
        a, b = src.rows("a_first")
        assert a.shape == b.shape == (4, 3)
        a, _ = src.rows("z_last", 1, 100)  # clipped at n_rows
        assert a[:, 0].tolist() == [2.0, 4.0, 6.0]
        assert src.meta() == {"n_rows": "4", "model": "toy"}


def test_select_checks_layers(h5: Path) -> None:
    with open_features(h5) as src:
        assert src.select(None) == ["z_last", "a_first"]
        assert src.select(["a_first"]) == ["a_first"]
        with pytest.raises(KeyError, match=r"\['nope'\] are not in .*Valid: z_last, a_first"):
            src.select(["a_first", "nope"])


def test_without_layer_attr_or_n_rows(tmp_path: Path) -> None:
    path = tmp_path / "bare.h5"
    with h5py.File(path, "w") as f:
        f.create_dataset("pairs/factor", data=np.array([0, 1], np.int8))
        f.create_dataset("features/b/a", data=np.zeros((2, 1)))
        f.create_dataset("features/a/a", data=np.zeros((2, 1)))
    with h5py.File(path) as f:
        src = FeaturesFile(f)
        assert src.n_rows == 2 and src.layer_names == ["a", "b"] and src.path == path


def test_missing_file_names_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="features file not found"):
        with open_features(tmp_path / "missing.h5"):
            pass
