"""probe.dynamic_pairs=appearance_free: only the dynamic pairs' second clip changes.

The pair list, clip A and every static pair stay exactly as with ``style``; the dynamic pair's
second clip is clip A's appearance-free render through the same transform; the run's identity
names the option (so a style run's directory is not resumed with it), and a style run's
identity is what it was before the key existed.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from staticdyn.config import ProbeSettings, identity_of
from staticdyn.data.appearance_free import render_appearance_free
from staticdyn.data.clips import clip_indices, transform_clip
from staticdyn.data.pairs import DYNAMIC, STATIC, sample_pairs
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import load_group
from staticdyn.errors import ConfigMismatchError, InvalidSettingError, UnknownChoiceError
from staticdyn.pipeline import probe_choices, run
from tests.helpers.fakes import FakeSource

SPEC = ClipSpec(frames=4, sampling_rate=1, crop=32, short_side=32, mean=(0.45,) * 3,
                std=(0.225,) * 3, alpha=None, n_sample_frames=8)


def _features(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        out = {f"{k}/{m}": f["features"][k][m][:] for k in f["features"] for m in ("a", "b")}
        out.update({f"pairs/{k}": f["pairs"][k][:] for k in f["pairs"]})
        return out


def _identity(path: Path) -> dict[str, str]:
    with h5py.File(path) as f:
        return {k: str(v) for k, v in f.attrs.items() if k.startswith("identity.")}


def test_group_dynamic_clip_is_the_render_of_clip_a_and_static_pairs_unchanged() -> None:
    source = FakeSource(n_videos=4, num_frames=10, size=40)
    pairs = sample_pairs(source.videos, source.num_styles, 8, seed=3, scheme="shared")
    group = [p for p in pairs if p.video == pairs[0].video]
    assert {p.factor for p in group} == {DYNAMIC, STATIC}
    styled = load_group(source, 0, group, SPEC)
    free = load_group(source, 0, group, SPEC, dynamic_pairs="appearance_free")
    assert free.skip_reason is None and free.rows == styled.rows
    p0 = group[0]
    picks = clip_indices(source.frame_count(p0.video, p0.style_a), SPEC, free.start)
    frames_a = source.read(p0.video, p0.style_a)[picks]
    dyn = next(p for p in group if p.factor == DYNAMIC)
    want = transform_clip(render_appearance_free(frames_a, dyn.seed), SPEC)
    for (a, b), pair in zip(free.rows, group, strict=True):
        assert torch.equal(free.clips[a][0], styled.clips[a][0])  # clip A untouched
        if pair.factor == STATIC:
            assert torch.equal(free.clips[b][0], styled.clips[b][0])
        else:
            assert torch.equal(free.clips[b][0], want[0])
            assert not torch.equal(free.clips[b][0], styled.clips[b][0])


def test_unknown_dynamic_pairs_in_load_group_names_the_choices() -> None:
    source = FakeSource(n_videos=2)
    pairs = sample_pairs(source.videos, source.num_styles, 4, seed=0, scheme="shared")
    with pytest.raises(UnknownChoiceError, match="appearance_free"):
        load_group(source, 0, pairs[:1], SPEC, dynamic_pairs="noise")


def test_run_changes_only_the_dynamic_b_features_and_names_the_option(cfg_factory) -> None:
    base = ["model=toy3d", "probe.n_pairs=12", "probe.bootstrap=0"]
    styled = run(cfg_factory("style", base))
    free = run(cfg_factory("free", [*base, "probe.dynamic_pairs=appearance_free"]))
    fs, ff = _features(styled["run_dir"] / "features.h5"), _features(free["run_dir"] /
                                                                      "features.h5")
    dynamic = fs["pairs/factor"] == 0  # factor_names: dynamic, static
    assert dynamic.any() and (~dynamic).any()
    for key in fs:
        if key.startswith("pairs/") or key.endswith("/a"):
            np.testing.assert_array_equal(fs[key], ff[key], err_msg=key)
        else:
            np.testing.assert_array_equal(fs[key][~dynamic], ff[key][~dynamic], err_msg=key)
            assert not np.allclose(fs[key][dynamic], ff[key][dynamic]), key
    assert "identity.probe.dynamic_pairs" not in _identity(styled["run_dir"] / "features.h5")
    assert _identity(free["run_dir"] / "features.h5")[
        "identity.probe.dynamic_pairs"] == "appearance_free"
    lw = (free["run_dir"] / "layerwise.csv").read_text()
    assert lw.splitlines()[0] == (styled["run_dir"] / "layerwise.csv").read_text().splitlines()[0]
    # the style run's directory is not resumed with the other variant
    again = cfg_factory("style", [*base, "probe.dynamic_pairs=appearance_free"])
    with pytest.raises(ConfigMismatchError, match="probe.dynamic_pairs"):
        run(again)


def test_identity_unchanged_at_the_default(cfg_factory) -> None:
    cfg = cfg_factory("id", ["model=toy3d"])
    assert "probe.dynamic_pairs" not in identity_of(cfg)
    cfg.probe.dynamic_pairs = "appearance_free"
    assert identity_of(cfg)["probe.dynamic_pairs"] == "appearance_free"


def test_bad_value_is_one_line_with_the_choices(cfg_factory) -> None:
    cfg = cfg_factory("bad", ["model=toy3d", "probe.dynamic_pairs=noise"])
    with pytest.raises(InvalidSettingError) as err:
        ProbeSettings.from_cfg(cfg.probe, probe_choices())
    text = str(err.value)
    assert "\n" not in text and "probe.dynamic_pairs" in text
    assert "style" in text and "appearance_free" in text
    with pytest.raises(InvalidSettingError, match="probe.dynamic_pairs"):
        run(cfg)
    assert not Path(cfg.out_dir).exists()


def test_vos_task_refuses_appearance_free(cfg_factory) -> None:
    cfg = cfg_factory("vos", ["model=toy3d", "probe=vos",
                              "+probe.dynamic_pairs=appearance_free"])
    with pytest.raises(InvalidSettingError, match="probe.task=vos"):
        ProbeSettings.from_cfg(cfg.probe, probe_choices())
