"""End to end: ``run.py model=toy_vis dataset=synthetic_vis probe=vis`` and its known answer;
probe/model task mismatches refused in one line before any work."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
from hydra import compose, initialize_config_dir

from staticdyn.errors import InvalidSettingError, StaticDynError
from staticdyn.pipeline import run

CONF = str(Path(__file__).resolve().parents[1] / "conf")
PER_FRAME = ["backbone.res3", "pixel_decoder.mask_features", "decoder.layer0"]


def _cfg(tmp_path: Path, *extra: str, model: str = "toy_vis", probe: str = "vis"):
    overrides = [
        f"model={model}", "dataset=synthetic_vis", f"probe={probe}",
        f"dataset.cache_dir={tmp_path / 'cache'}", "dataset.n_videos=6", "dataset.num_frames=6",
        "dataset.size=32", "probe.n_pairs=12", "probe.bootstrap=0", "probe.progress=false",
        f"out_dir={tmp_path / 'run'}", *extra,
    ]
    with initialize_config_dir(config_dir=CONF, version_base="1.3"):
        return compose("config", overrides=overrides)


@pytest.mark.parametrize("pooling", ["mean", "matched"])
def test_toy_run_and_its_known_answer(tmp_path: Path, pooling: str) -> None:
    res = run(_cfg(tmp_path, f"probe.vis_pooling={pooling}"))
    out = res["run_dir"]
    for name in ("features.h5", "layerwise.csv", "unitwise.csv", "summary.md", "layerwise.png"):
        assert (out / name).stat().st_size > 0, name
    assert res["rows"] == 12 and res["skipped"] == 0
    with h5py.File(out / "features.h5") as f:
        assert f["features/tracker.layer0/a"].shape == (12, 16)
        assert f["features/backbone.res3/b"].shape == (12, 8)
    scores = pd.read_csv(out / "unit_scores.csv")
    uw = pd.read_csv(out / "unitwise.csv").set_index("layer")
    for layer in PER_FRAME:  # order-invariant after the mean over frames
        live = scores[(scores["layer"] == layer) & np.isfinite(scores["r_static"])]
        assert len(live) > 0
        np.testing.assert_allclose(live["r_static"], 1.0, atol=1e-6, err_msg=layer)
        assert uw.loc[layer, "dynamic"] == 0
    tracker = scores[scores["layer"] == "tracker.layer0"]["r_static"]
    assert tracker.min() < 1 - 1e-4  # the temporal term: shuffled frames change it


def test_matched_and_mean_differ_only_on_query_layers(tmp_path: Path) -> None:
    a = run(_cfg(tmp_path / "a", "probe.vis_pooling=mean"))["features"]
    b = run(_cfg(tmp_path / "b", "probe.vis_pooling=matched"))["features"]
    with h5py.File(a) as fa, h5py.File(b) as fb:
        for layer in ("backbone.res3", "pixel_decoder.mask_features"):
            assert np.array_equal(fa[f"features/{layer}/a"][:], fb[f"features/{layer}/a"][:])
        assert not np.allclose(fa["features/tracker.layer0/a"][:],
                               fb["features/tracker.layer0/a"][:])


def test_a_non_vis_model_with_probe_vis_is_refused_before_any_work(tmp_path: Path) -> None:
    with pytest.raises(StaticDynError) as info:
        run(_cfg(tmp_path, model="toy3d"))
    msg = str(info.value)
    assert "\n" not in msg and "model 'toy3d' has task action" in msg
    assert "Valid choices:" in msg and "model=toy_vis" in msg and "model=toy3d" not in msg
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_a_vis_model_with_another_probe_is_refused(tmp_path: Path) -> None:
    with pytest.raises(StaticDynError, match=r"model 'toy_vis' is a video instance "
                                             r"segmentation model .* not probe=action\. "
                                             r"Valid choices: probe=vis"):
        run(_cfg(tmp_path, "dataset.n_videos=6", probe="action"))
    assert not (tmp_path / "run").exists()


def test_bad_vis_settings_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(InvalidSettingError, match="probe.vis_pooling.*mean, matched"):
        run(_cfg(tmp_path, "probe.vis_pooling=slots"))
    with pytest.raises(StaticDynError, match=r"none of the layers \['backbone.res3'\] .* is a "
                                             r"query layer.*decoder.layer0, tracker.layer0"):
        run(_cfg(tmp_path, "probe.vis_pooling=matched", "probe.layers=[backbone.res3]"))
    with pytest.raises(StaticDynError, match="vis_pooling=matched needs instance masks; dataset "
                                             "'synthetic' has none"):
        with initialize_config_dir(config_dir=CONF, version_base="1.3"):
            run(compose("config", overrides=[
                "model=toy_vis", "dataset=synthetic", "probe=vis", "probe.vis_pooling=matched",
                "dataset.n_videos=6", f"out_dir={tmp_path / 'run'}"]))
    assert not (tmp_path / "run").exists()


def test_an_unreadable_frame_is_named_and_its_video_not_drawn(tmp_path: Path) -> None:
    from staticdyn.data.synthetic_vis import SyntheticVISSource

    src = SyntheticVISSource(cache_dir=tmp_path / "cache", n_videos=6, num_frames=6, size=32)
    bad = src.root / "JPEGImages" / "synvis_0002" / "00000.jpg"
    bad.write_bytes(b"not a jpeg")
    res = run(_cfg(tmp_path, "probe.n_pairs=10"))
    assert res["unreadable"] == 1 and res["rows"] == 10  # 5 readable videos, 2 pairs each
    skipped = pd.read_csv(res["run_dir"] / "skipped.csv")
    assert skipped["item"].str.endswith("JPEGImages/synvis_0002").all()
    assert skipped["reason"].str.contains("00000.jpg").all()
    with h5py.File(res["features"]) as f:
        assert b"synvis_0002" not in set(f["pairs/video"][:])
