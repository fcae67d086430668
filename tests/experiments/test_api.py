"""``staticdyn.probe(model, dataset, ...)`` (issue 12): the run ``python run.py`` makes, from
Python. A zoo entry (by name or loaded) gives the features run.py gives, bit for bit; a module
the user built is probed as it is, and its weights join the run's identity.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from hydra import compose, initialize_config_dir

import staticdyn
from staticdyn.errors import ConfigMismatchError, StaticDynError, UnknownChoiceError
from staticdyn.metrics.analyze import RunTables
from staticdyn.pipeline import run
from tests.helpers.configs import CONF
from tests.helpers.known import Net3D, assert_frame_order_blind

SMALL = ["model.builder_kwargs.width=4", "model.clip.crop=32", "model.clip.short_side=32"]
FAST = {"n_pairs": 12, "bootstrap": 0, "progress": False}


def _features(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        return {f"{k}/{m}": f["features"][k][m][:] for k in f["features"] for m in ("a", "b")}


def _same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys() and a
    for key in a:
        assert np.array_equal(a[key], b[key]), key


@pytest.fixture(scope="module")
def by_run_py(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """toy3d on synthetic_tiny as ``python run.py`` composes and runs it."""
    out = tmp_path_factory.mktemp("runpy")
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=[
            "model=toy3d", "dataset=synthetic_tiny", f"out_dir={out}", "probe.n_pairs=12",
            "probe.bootstrap=0", "probe.progress=false", *SMALL])
    return run(cfg)["features"]


def test_a_zoo_name_gives_run_py_features_and_the_tables(by_run_py: Path, tmp_path: Path
                                                         ) -> None:
    tables = staticdyn.probe("toy3d", "synthetic_tiny", out_dir=tmp_path, overrides=SMALL,
                             **FAST)
    assert isinstance(tables, RunTables)
    assert isinstance(tables.layerwise, pd.DataFrame) and isinstance(tables.unitwise,
                                                                     pd.DataFrame)
    assert list(tables.layerwise["layer"]) == ["stage1", "stage2", "stage3", "stage4"]
    _same(_features(tmp_path / "features.h5"), _features(by_run_py))
    csv = pd.read_csv(tmp_path / "layerwise.csv")
    assert np.allclose(csv["dynamic_pct"], tables.layerwise["dynamic_pct"])


def test_a_loaded_zoo_model_is_rebuilt_from_its_card(by_run_py: Path, tmp_path: Path) -> None:
    """Rebuilt inside the run, seeded as run.py seeds it: same card, same features (the
    object in hand was built under another RNG state)."""
    torch.manual_seed(123)
    model = staticdyn.load_model("toy3d", builder_kwargs={"width": 4},
                                 clip={"crop": 32, "short_side": 32})
    staticdyn.probe(model, "synthetic_tiny", out_dir=tmp_path, **FAST)
    _same(_features(tmp_path / "features.h5"), _features(by_run_py))
    # layers= picks the probe's layers, as probe.layers does
    tables = staticdyn.probe(model, "synthetic_tiny", out_dir=tmp_path / "two", layers=["stage2"],
                             **FAST)
    assert list(tables.layerwise["layer"]) == ["stage2"]


CLIP = {"frames": 4, "sampling_rate": 2, "crop": 32, "short_side": 32, "n_sample_frames": 16}


def test_a_users_module_is_probed_as_it_is_and_its_weights_join_the_identity(
        tmp_path: Path) -> None:
    torch.manual_seed(0)
    net = Net3D()
    model = staticdyn.load_model(net, layers={"s1": "stem", "s2": "block"}, clip=CLIP)
    tables = staticdyn.probe(model, "synthetic_tiny", out_dir=tmp_path, **FAST)
    assert list(tables.unitwise["layer"]) == ["s1", "s2"]
    units = tables.unitwise[["dynamic", "static", "joint", "residual", "dead"]].sum(axis=1)
    assert list(units) == [4, 6]
    with h5py.File(tmp_path / "features.h5") as f:
        stored = f["features"]["s2"]["a"][:]
        config = str(f.attrs["config"])
    assert stored.shape[1] == 6 and "state sha1" in config and "Net3D" in config
    # the same weights again: the finished run is reused, same tables
    again = staticdyn.probe(model, "synthetic_tiny", out_dir=tmp_path, **FAST)
    pd.testing.assert_frame_equal(again.layerwise, tables.layerwise)
    # other weights in the same run directory: refused, nothing mixed
    with torch.no_grad():
        net.block[0].weight.add_(1.0)
    with pytest.raises(ConfigMismatchError, match="sha1"):
        staticdyn.probe(model, "synthetic_tiny", out_dir=tmp_path, **FAST)


def test_bad_arguments_are_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(StaticDynError, match="names no default layers.*stem"):
        staticdyn.probe(Net3D(), "synthetic_tiny", out_dir=tmp_path)
    with pytest.raises(UnknownChoiceError, match="probe key.*n_pair"):
        staticdyn.probe("toy3d", "synthetic_tiny", out_dir=tmp_path, n_pair=3)
    with pytest.raises(StaticDynError, match="name of a conf/dataset entry"):
        staticdyn.probe("toy3d", {"root": "/data"}, out_dir=tmp_path)
    assert not any(tmp_path.iterdir())  # refused before anything was written


def test_timm2d_by_name_is_blind_to_frame_order_on_the_synthetic_set(tmp_path: Path) -> None:
    """The frame-wise baseline's known answer through a whole run (run.py overrides given as
    Hydra strings): r_static = 1 for every live unit, no dynamic unit."""
    tables = staticdyn.probe(
        "timm2d", "synthetic_tiny", out_dir=tmp_path, overrides=[
            "model.clip.crop=32", "model.clip.short_side=32", "model.clip.frames=4",
            "model.clip.sampling_rate=2", "+model.clip.n_sample_frames=16"], **FAST)
    assert len(tables.unitwise) == 5
    assert_frame_order_blind(tables)


def test_overrides_a_config_cannot_hold_probe_the_model_as_built(tmp_path: Path) -> None:
    from staticdyn.experiments.api import probe_config

    marker = object()  # not YAML: the config cannot carry it, so the built model is used
    model = staticdyn.load_model("toy3d", builder_kwargs={"width": 4}, description=marker)
    cfg, prebuilt = probe_config(model, "synthetic_tiny", out_dir=tmp_path)
    assert prebuilt is model.model
    assert cfg.model.builder_kwargs.width == 4 and cfg.out_dir == str(tmp_path)
    plain = staticdyn.load_model("toy3d", builder_kwargs={"width": 4})
    cfg, prebuilt = probe_config(plain, "synthetic_tiny", n_pairs=7)
    assert prebuilt is None and cfg.probe.n_pairs == 7
    assert cfg.out_dir == str(Path("outputs") / "toy3d" / "synthetic_tiny" / "seed0")
