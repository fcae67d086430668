"""End-to-end pipeline on a tiny model and a fake dataset: outputs, reuse, resume, bad input."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from staticdyn.errors import (
    ConfigMismatchError,
    DatasetError,
    InvalidSettingError,
    UnknownChoiceError,
    UnknownLayerError,
)
from staticdyn.metrics.analyze import LAYERWISE_COLUMNS, UNIT_SCORE_COLUMNS, UNITWISE_COLUMNS
from staticdyn.pipeline import run

FILES = ["features.h5", "layerwise.csv", "unitwise.csv", "unit_scores.csv", "summary.md",
         "layerwise.png", "unitwise.png", "skipped.csv"]


def _features(path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out = {f"{k}/{m}": f["features"][k][m][:] for k in f["features"] for m in ("a", "b")}
        out.update({f"pairs/{k}": f["pairs"][k][:] for k in f["pairs"]})
        return out


def test_run_writes_every_file_with_documented_columns(cfg_factory) -> None:
    res = run(cfg_factory(overrides=["model=toy3d", "probe.n_pairs=16"]))
    out = res["run_dir"]
    for name in FILES:
        assert (out / name).exists() and (out / name).stat().st_size > 0, name
    lw = pd.read_csv(out / "layerwise.csv")  # documented columns first; intervals appended
    assert list(lw.columns[: len(LAYERWISE_COLUMNS)]) == LAYERWISE_COLUMNS
    assert {"score_dynamic_lo", "score_dynamic_hi", "estimable", "note"} <= set(lw.columns)
    uw = pd.read_csv(out / "unitwise.csv")
    assert list(uw.columns[: len(UNITWISE_COLUMNS)]) == UNITWISE_COLUMNS
    assert {"dynamic_lo", "dynamic_hi", "estimable"} <= set(uw.columns)
    assert list(pd.read_csv(out / "unit_scores.csv").columns) == UNIT_SCORE_COLUMNS
    lw = pd.read_csv(out / "layerwise.csv")
    assert lw["layer"].tolist() == ["stage1", "stage2", "stage3", "stage4"]
    assert (lw["pairs_dynamic"] + lw["pairs_static"] == 16).all()
    with h5py.File(out / "features.h5") as f:
        assert f.attrs["factor_names"].tolist() == ["dynamic", "static"]
        assert f.attrs["sampler"] == "shared" and bool(f.attrs["complete"])
        assert "model:" in f.attrs["config"]
        assert f["features/stage4/a"].shape == (16, 64)
        assert f["features/stage4"].attrs["module"] == "blocks.3"
        assert f["pairs/factor"].dtype == np.int8
    assert "UNTRAINED" in (out / "summary.md").read_text()


@pytest.mark.parametrize(("sampler", "per_pair"), [("shared", 1.5), ("authors", 2.0)])
def test_forwards_per_pair(cfg_factory, sampler: str, per_pair: float) -> None:
    res = run(cfg_factory(sampler, ["model=toy3d", "probe.n_pairs=12",
                                    f"probe.sampler={sampler}"]))
    assert res["forwards"] / res["rows"] == per_pair


def test_same_seed_same_features_any_batch_size(cfg_factory) -> None:
    a = _features(run(cfg_factory("a", ["model=toy3d", "probe.n_pairs=12",
                                        "probe.batch_size=3"]))["features"])
    b = _features(run(cfg_factory("b", ["model=toy3d", "probe.n_pairs=12",
                                        "probe.batch_size=12"]))["features"])
    assert a.keys() == b.keys()
    for k in a:
        if k.startswith("pairs/"):
            assert (a[k] == b[k]).all(), k  # pairs bit for bit
        else:
            np.testing.assert_allclose(a[k], b[k], rtol=1e-4, atol=1e-5, err_msg=k)


def test_resume_after_interruption_gives_same_file(cfg_factory, monkeypatch) -> None:
    over = ["model=toy3d", "probe.n_pairs=16", "probe.batch_size=3"]
    ref = _features(run(cfg_factory("ref", over))["features"])

    from tests.helpers import fakes

    calls = {"n": 0}
    orig = fakes.FakeSource.read

    def flaky(self, video, style):  # noqa: ANN001, ANN202
        calls["n"] += 1
        if calls["n"] == 9:
            raise KeyboardInterrupt  # a kill in the middle of extraction
        return orig(self, video, style)

    cfg = cfg_factory("resumed", over)
    monkeypatch.setattr(fakes.FakeSource, "read", flaky)
    with pytest.raises(KeyboardInterrupt):
        run(cfg)
    with h5py.File(cfg.out_dir + "/features.h5") as f:
        partial = int(f.attrs["n_rows"])
        assert 0 < partial < 16 and not bool(f.attrs["complete"])
    monkeypatch.setattr(fakes.FakeSource, "read", orig)
    got = _features(run(cfg)["features"])
    for k in ref:
        if k.startswith("pairs/"):
            assert (ref[k] == got[k]).all(), k
        else:
            np.testing.assert_allclose(ref[k], got[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_frame_order_invariant_model_has_no_dynamic_units(cfg_factory) -> None:
    res = run(cfg_factory(overrides=["model=toy_invariant", "probe.n_pairs=24"]))
    scores = res["tables"].unit_scores
    np.testing.assert_allclose(scores["r_static"], 1.0, atol=1e-4)
    assert (res["tables"].unitwise["dynamic"] == 0).all()


def test_unreadable_videos_are_skipped_logged_and_counted(cfg_factory) -> None:
    res = run(cfg_factory(overrides=["model=toy3d", "probe.n_pairs=12",
                                     "probe.sampler=authors"],
                          dataset={"bad": ["v001", "v002", "v005"]}))
    out = res["run_dir"]
    skipped = pd.read_csv(out / "skipped.csv")
    assert res["skipped"] == len(skipped) == 3
    assert list(skipped.columns) == ["item", "reason"]
    assert skipped["reason"].str.contains("planted unreadable").all()
    assert res["rows"] == 12 - 3


def test_everything_skipped_fails_with_causes(cfg_factory) -> None:
    bad = [f"v{i:03d}" for i in range(12)]
    with pytest.raises(DatasetError, match="every item was skipped.*planted"):
        run(cfg_factory(overrides=["model=toy3d", "probe.n_pairs=4"], dataset={"bad": bad}))


def test_unknown_layer_lists_real_names(cfg_factory) -> None:
    with pytest.raises(UnknownLayerError, match=r"stage9.*stage1, stage2.*blocks\.0"):
        run(cfg_factory(overrides=["model=toy3d", "probe.layers=[stage1,stage9]"]))


def test_module_path_layers(cfg_factory) -> None:
    res = run(cfg_factory(overrides=["model=toy3d", "probe.n_pairs=4",
                                     "probe.layers=[blocks.1.0,stage4]"]))
    assert res["tables"].layerwise["layer"].tolist() == ["blocks.1.0", "stage4"]


def test_unknown_model(cfg_factory) -> None:
    cfg = cfg_factory(overrides=["model=toy3d"])
    cfg.model.name = "nonexistent"
    cfg.model.builder = "nope.missing.fn"
    with pytest.raises(Exception, match="nope"):
        run(cfg)
    from staticdyn.models.zoo import load_model

    with pytest.raises(UnknownChoiceError, match="x3d_xs"):
        load_model("bogus_model")


def test_several_seeds_give_mean_and_interval(cfg_factory) -> None:
    res = run(cfg_factory(overrides=["model=toy3d", "probe.n_pairs=8", "probe.seeds=[1,2,3]"]))
    df = pd.read_csv(res["files"]["layerwise"])
    assert df["n_seeds"].eq(3).all() and len(df) == 4
    per_seed = [r["tables"].layerwise for r in res["seeds"].values()]
    vals = np.array([t["dynamic_pct"].iloc[0] for t in per_seed])
    assert df["dynamic_pct"].iloc[0] == pytest.approx(vals.mean())
    assert df["dynamic_pct_ci"].iloc[0] == pytest.approx(1.96 * vals.std() / np.sqrt(3))
    for s in (1, 2, 3):
        assert (res["run_dir"] / f"seed{s}" / "features.h5").exists()


def _never(cfg):  # noqa: ANN001, ANN202
    raise AssertionError("built something for a refused config")


def test_bad_settings_are_refused_before_anything_is_built_or_written(cfg_factory,
                                                                      monkeypatch) -> None:
    import staticdyn.pipeline as pipeline

    monkeypatch.setattr(pipeline, "build_source", _never)
    monkeypatch.setattr(pipeline, "build_model", _never)
    accepted = []
    for over, key in ((["probe.lambda=abc"], "probe.lambda"),
                      (["probe.estimator=bogus"], "probe.estimator"),
                      (["probe.n_pairs='8'", "probe.batch_size=x"], "probe.batch_size")):
        cfg = cfg_factory("refused", ["model=toy3d", *over])
        with pytest.raises(InvalidSettingError, match=key):
            run(cfg, accept=lambda: accepted.append(1))
        assert not Path(cfg.out_dir).exists()
    assert accepted == []


def test_too_few_pairs_of_a_factor_are_refused_before_the_model(cfg_factory,
                                                               monkeypatch) -> None:
    import staticdyn.pipeline as pipeline
    from staticdyn.data.pairs import sample_pairs
    from tests.helpers.fakes import FakeSource

    # the authors' sampler draws the factor per video: 4 pairs may hold a single static one
    videos = FakeSource().videos

    def statics(seed: int) -> int:
        return sum(p.factor for p in sample_pairs(videos, 3, 4, seed, "authors"))

    lopsided = next(s for s in range(100) if statics(s) != 2)
    monkeypatch.setattr(pipeline, "build_model", _never)
    cfg = cfg_factory("lopsided", ["model=toy3d", "probe.n_pairs=4", "probe.sampler=authors",
                                   f"probe.seed={lopsided}"])
    with pytest.raises(InvalidSettingError, match=r"probe\.n_pairs=4.*pairs of each factor"):
        run(cfg)
    assert not Path(cfg.out_dir).exists()


def test_accept_comes_after_every_check_and_before_the_first_write(cfg_factory) -> None:
    cfg = cfg_factory(overrides=["model=toy3d", "probe.n_pairs=4"])
    out = Path(cfg.out_dir)
    seen = []
    run(cfg, accept=lambda: seen.append(out.exists()))
    assert seen == [False] and (out / "features.h5").exists()
    # a different config in the finished directory is refused without accepting
    other = cfg_factory(overrides=["model=toy3d", "probe.n_pairs=6"])
    with pytest.raises(ConfigMismatchError, match="probe.n_pairs"):
        run(other, accept=lambda: seen.append("refused run accepted"))
    assert seen == [False]


# -- the data scan: bad files up front, exactly n_pairs, resume only onto the same data --------

def _folder_cfg(cfg_factory, name: str, root: Path, over: list[str] = ()):
    return cfg_factory(name, ["model=toy3d", "model.clip.crop=32", "model.clip.short_side=32",
                              "probe.n_pairs=12", "probe.batch_size=6", *over],
                       {"_target_": "staticdyn.data.video_folder.VideoFolderSource",
                        "name": "vf", "root": str(root), "num_styles": 4, "seed": 0})


def _pairs(path: Path) -> list[tuple]:
    with h5py.File(path) as f:
        return list(zip(*(f["pairs"][k][:].tolist() for k in f["pairs"]), strict=True))


def test_bad_folder_gives_exactly_n_pairs_and_names_bad_files(cfg_factory,
                                                             tmp_path: Path) -> None:
    from tests.data.test_scan import BAD, make_bad_folder

    root = make_bad_folder(tmp_path / "videos")
    res = run(_folder_cfg(cfg_factory, "a", root))
    assert res["rows"] == 12 and res["unreadable"] == 3 and res["skipped"] == 0
    skipped = pd.read_csv(res["run_dir"] / "skipped.csv")
    assert sorted(skipped["item"]) == sorted(str(root / f"{n}.mp4") for n in BAD)
    assert skipped["reason"].str.startswith("all styles: ").all()
    assert (res["run_dir"] / "scan_index.json").is_file()
    again = run(_folder_cfg(cfg_factory, "b", root))
    assert _pairs(res["features"]) == _pairs(again["features"])  # same seed, same pairs


def test_file_going_bad_during_the_run_is_replaced_deterministically(
        cfg_factory, tmp_path: Path, monkeypatch) -> None:
    from staticdyn.data.video_folder import VideoFolderSource
    from staticdyn.errors import VideoReadError
    from tests.data.test_scan import make_bad_folder

    root = make_bad_folder(tmp_path / "videos", n_good=8)  # 12 pairs use 6 of the 8 videos
    ref = _pairs(run(_folder_cfg(cfg_factory, "ref", root))["features"])
    columns = ["factor", "group", "index", "seed", "start", "style_a", "style_b", "video"]
    video = dict(zip(columns, ref[0], strict=True))["video"]
    video = video.decode() if isinstance(video, bytes) else video
    original = VideoFolderSource.read_frames

    def flaky(self, v, style, indices):
        if v == video:
            raise VideoReadError("went bad after the scan")
        return original(self, v, style, indices)

    monkeypatch.setattr(VideoFolderSource, "read_frames", flaky)
    runs = [run(_folder_cfg(cfg_factory, name, root)) for name in ("a", "b")]
    for res in runs:
        assert res["rows"] == 12 and res["skipped"] == 1 and res["unreadable"] == 3
        skipped = pd.read_csv(res["run_dir"] / "skipped.csv")
        assert len(skipped) == 4 and skipped["item"].str.contains(video).sum() == 1
    a, b = (_pairs(r["features"]) for r in runs)
    assert a == b  # same seed, same replacements
    kept = [p for p in ref if video.encode() not in p and video not in p]
    assert a[:len(kept)] == kept and len(a) == 12
    new_videos = {p[columns.index("video")] for p in a[len(kept):]}
    assert not new_videos & {p[columns.index("video")] for p in ref}  # unused videos only


def test_changed_folder_resume_is_refused_in_one_line(cfg_factory, tmp_path: Path) -> None:
    from tests.data.conftest import moving_square, write_video
    from tests.data.test_scan import make_bad_folder

    root = make_bad_folder(tmp_path / "videos", n_good=6)
    cfg = _folder_cfg(cfg_factory, "a", root)
    run(cfg)
    run(cfg)  # unchanged data: reused
    write_video(root / "added.mp4", moving_square(16, 32, seed=42))
    with pytest.raises(ConfigMismatchError, match="data set changed") as err:
        run(cfg)
    msg = str(err.value)
    assert "\n" not in msg and "7 readable" in msg and "6 readable" in msg


def test_cycled_groups_counted_in_attrs_and_summary(cfg_factory, tmp_path: Path) -> None:
    from tests.data.test_scan import make_bad_folder

    root = make_bad_folder(tmp_path / "videos", frames=8)  # toy3d's window is 16 frames
    res = run(_folder_cfg(cfg_factory, "a", root))
    with h5py.File(res["features"]) as f:
        groups = len(set(f["pairs/group"][:].tolist()))
        assert int(f.attrs["cycled_groups"]) == groups == res["cycled"] > 0
    assert f"- cycled clips: {groups} groups" in (res["run_dir"] / "summary.md").read_text()
    long = run(_folder_cfg(cfg_factory, "b", make_bad_folder(tmp_path / "long", frames=16)))
    assert long["cycled"] == 0
    assert "cycled clips" not in (long["run_dir"] / "summary.md").read_text()
