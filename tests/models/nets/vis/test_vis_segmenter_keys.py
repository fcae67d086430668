"""Mask2Former-VIS and MinVIS: the released key layout (full size, from the official code) and
strict loading of detectron2's release formats (.pkl of numpy arrays, .pth), with the one-line
error a wrong file gives."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest
import torch

import staticdyn
from staticdyn.errors import CheckpointMismatchError
from staticdyn.models.builders import import_object
from staticdyn.models.zoo import entry_config

FIXTURES = Path(__file__).parents[3] / "fixtures" / "checkpoint_keys"
ENTRIES = ("mask2former_vis_r50", "mask2former_vis_swinl", "minvis_r50", "minvis_swinl")


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def _smoke(entry: str) -> dict:
    """The card's own smoke sizes: the tiny model the release-format tests write files for."""
    card = entry_config(entry)
    return {"builder_kwargs": card["smoke"]["builder_kwargs"],
            "clip": {"crop": 64, "short_side": 64, "frames": 2}}


@pytest.mark.parametrize("entry", ENTRIES)
def test_full_size_state_dict_equals_the_official_key_list(entry: str) -> None:
    card = entry_config(entry)
    with torch.device("meta"):  # the real architecture, without paying for its init
        module = import_object(card["builder"])(**card["builder_kwargs"])
    ours = {k: list(v.shape) for k, v in module.state_dict().items()}
    assert ours == _fixture(f"vis_{entry}")["keys"]
    assert not any(k.endswith("num_batches_tracked") for k in ours)  # frozen BN


@pytest.mark.parametrize("model", ["mask2former_vis", "minvis"])
def test_swinl_fixture_is_the_swin_backbone_fixture_plus_the_r50_head(model: str) -> None:
    """The Swin-L entries = vis-dvis' official Swin-L backbone keys + the segmenter head at
    Swin-L input widths and 200 queries (every other head key as in the R50 entry)."""
    swinl = _fixture(f"vis_{model}_swinl")["keys"]
    backbone = _fixture("vis_backbone_swinl")["keys"]
    assert {k: v for k, v in swinl.items() if k.startswith("backbone.")} == backbone
    r50 = {k: v for k, v in _fixture(f"vis_{model}_r50")["keys"].items()
           if not k.startswith("backbone.")}
    head = {k: v for k, v in swinl.items() if not k.startswith("backbone.")}
    assert head.keys() == r50.keys()
    differ = {k for k in head if head[k] != r50[k]}
    assert differ == {
        "sem_seg_head.predictor.query_feat.weight", "sem_seg_head.predictor.query_embed.weight",
        *(f"sem_seg_head.pixel_decoder.input_proj.{i}.0.weight" for i in range(3)),
        "sem_seg_head.pixel_decoder.adapter_1.weight"}
    assert head["sem_seg_head.predictor.query_feat.weight"] == [200, 256]
    assert head["sem_seg_head.pixel_decoder.adapter_1.weight"] == [256, 192, 1, 1]


def test_fixture_names_its_official_source() -> None:
    source = _fixture("vis_minvis_r50")["source"]["repos"]
    assert set(source) == {"facebookresearch/Mask2Former", "NVlabs/MinVIS",
                           "facebookresearch/detectron2"}
    assert all(len(r["commit"]) == 40 for r in source.values())


def _released(entry: str, tmp_path: Path) -> tuple[dict[str, torch.Tensor], Path, Path, Path]:
    """A random tiny model's weights in the three release envelopes."""
    torch.manual_seed(3)
    state = {k: torch.randn_like(v) if v.is_floating_point() else v + 1 for k, v in
             staticdyn.load_model(entry, **_smoke(entry)).module.state_dict().items()}
    arrays = {k: v.numpy() for k, v in state.items()}
    pkl2, pkl5, pth = tmp_path / "model_final.pkl", tmp_path / "p5.pkl", tmp_path / "m.pth"
    with pkl2.open("wb") as fh:  # detectron2's model-zoo .pkl: protocol 2, numpy arrays
        pickle.dump({"model": arrays, "__author__": "Mask2Former", "matching_heuristics": True},
                    fh, protocol=2)
    with pkl5.open("wb") as fh:
        pickle.dump({"model": arrays, "__author__": "Mask2Former"}, fh, protocol=5)
    torch.save({"model": state, "iteration": 1000}, pth)
    return state, pkl2, pkl5, pth


@pytest.mark.parametrize("entry", ENTRIES)  # every entry (issue 13, Done when)
def test_release_formats_load_strictly(entry: str, tmp_path: Path) -> None:
    state, *files = _released(entry, tmp_path)
    for path in files:
        model = staticdyn.load_model(entry, checkpoint=path, **_smoke(entry))
        loaded = model.module.state_dict()
        assert loaded.keys() == state.keys()
        assert all(torch.equal(loaded[k], state[k]) for k in state), path.name


def test_wrong_file_lists_missing_and_unexpected_keys_in_one_line(tmp_path: Path) -> None:
    state, *_ = _released("minvis_r50", tmp_path)
    state.pop("criterion.empty_weight")
    state["sem_seg_head.static_query.weight"] = torch.zeros(2, 2)
    path = tmp_path / "wrong.pkl"
    with path.open("wb") as fh:
        pickle.dump({"model": {k: v.numpy() for k, v in state.items()}}, fh, protocol=2)
    with pytest.raises(CheckpointMismatchError) as err:
        staticdyn.load_model("minvis_r50", checkpoint=path, **_smoke("minvis_r50"))
    msg = str(err.value)
    assert "\n" not in msg
    assert "1 missing keys [criterion.empty_weight]" in msg
    assert "1 unexpected keys [sem_seg_head.static_query.weight]" in msg


def test_an_ovis_release_loads_with_its_25_classes(tmp_path: Path) -> None:
    """OVIS models (25 classes) use the same cards with ``model.builder_kwargs.num_classes=25``:
    the class head and the criterion's class weights get 26 rows and such a file loads
    strictly; into the 40-class card it is refused, naming the three mismatched shapes."""
    smoke = _smoke("minvis_r50")
    ovis = {**smoke, "builder_kwargs": {**smoke["builder_kwargs"], "num_classes": 25}}
    torch.manual_seed(5)
    state = staticdyn.load_model("minvis_r50", **ovis).module.state_dict()
    assert state["sem_seg_head.predictor.class_embed.weight"].shape[0] == 26
    assert state["criterion.empty_weight"].shape == (26,)
    path = tmp_path / "minvis_ovis.pth"
    torch.save({"model": state, "iteration": 1}, path)
    loaded = staticdyn.load_model("minvis_r50", checkpoint=path, **ovis).module.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    with pytest.raises(CheckpointMismatchError, match="3 shape mismatches"):
        staticdyn.load_model("minvis_r50", checkpoint=path, **smoke)
