"""End to end: ``run.py model=rtnet_r34 dataset=synthetic_vos probe=vos`` on a tiny build."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir

from staticdyn.pipeline import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")


def test_tiny_vos_run_writes_tables(tiny_davis, tmp_path: Path) -> None:
    overrides = [
        "model=rtnet_r34", "dataset=synthetic_vos", "probe=vos",
        f"dataset.cache_dir={tiny_davis.root.parent}", "dataset.n_sequences=3",
        "dataset.num_frames=5", "dataset.size=48",
        "+model.builder_kwargs.blocks=[1,1,1,1]", "model.clip.crop=32",
        "model.clip.short_side=40", "probe.n_pairs=8", "probe.nreps=2", "probe.batch_size=4",
        "probe.progress=false", f"out_dir={tmp_path / 'run'}",
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        cfg = compose("config", overrides=overrides)
    assert cfg.probe.clip_frames == 2  # taken from the model's clip spec
    res = run(cfg)
    out = res["run_dir"]
    for name in ("features.h5", "layerwise.csv", "unitwise.csv", "summary.md"):
        assert (out / name).stat().st_size > 0, name
    lw = pd.read_csv(out / "layerwise.csv")
    assert lw["layer"].tolist() == [*(f"{s}.layer{k}" for s in ("app", "mot")
                                      for k in range(1, 6)),
                                    *(f"fusion.layer{k}" for k in range(2, 6))]
    assert (lw["pairs_dynamic"] + lw["pairs_static"] == 8).all()
    assert (lw["pairs_dynamic"] > 0).all() and (lw["pairs_static"] > 0).all()
    with h5py.File(out / "features.h5") as f:
        assert f.attrs["sampler"] == "authors"
        assert f["features/fusion.layer5/a"].shape == (8, 256)
        assert f["features/app.layer5/b"].shape == (8, 512)
        videos = [v.decode() for v in f["pairs/video"][:]]
        assert all(v.split("/")[1] in {"00001", "00002", "00003"} for v in videos)
        assert np.isfinite(f["features/mot.layer3/a"][:]).all()
    assert res["skipped"] == 0 and res["rows"] == 8
