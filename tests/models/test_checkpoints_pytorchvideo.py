"""Checkpoint loading: PyTorchVideo model-zoo files load strictly; anything else fails loudly."""

from __future__ import annotations

import argparse
import json
import pickle
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch

from staticdyn.errors import CheckpointMismatchError, StaticDynError, UnsafeCheckpointError
from staticdyn.models import zoo
from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.loading import load_checkpoint
from staticdyn.models.checkpoints.reader import read_checkpoint
from staticdyn.models.checkpoints.state import extract_state_dict, target_keys
from staticdyn.models.nets.fast_only import create_fast_only

FIXTURES = Path("/work/shared/fixtures/checkpoint_keys")
if not FIXTURES.is_dir():  # a checkout that carries the fixtures itself
    FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "checkpoint_keys"
ENTRY = "x3d_xs"  # smallest model with every kind of layer (conv, BN, linear head)


def _random_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's state dict with every float tensor replaced by fresh random values."""
    gen = torch.Generator().manual_seed(0)
    return {
        k: torch.rand(v.shape, generator=gen, dtype=v.dtype) if v.is_floating_point() else v
        for k, v in model.state_dict().items()
    }


def _assert_loaded(model: torch.nn.Module, state: dict[str, torch.Tensor]) -> None:
    for key, value in model.state_dict().items():
        assert torch.equal(value, state[key]), key


@pytest.fixture(scope="module")
def built() -> zoo.ZooModel:
    return zoo.load_model(ENTRY)


def test_pytorchvideo_zoo_round_trip(tmp_path: Path, built: zoo.ZooModel) -> None:
    state = _random_state(built.module)
    path = tmp_path / "X3D_XS.pyth"
    torch.save({"model_state": state}, path)
    model = zoo.load_model(ENTRY, checkpoint=path)
    assert not model.untrained and model.checkpoint == str(path)
    _assert_loaded(model.module, state)
    assert not model.module.training


def test_envelopes_prefixes_and_missing_bn_counters(tmp_path: Path, built: zoo.ZooModel) -> None:
    state = _random_state(built.module)
    wrapped = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    # newer PyTorchVideo also saves MViT's attention pools under alias names: ignored
    wrapped["module.blocks.1._attention_pool_q.pool.weight"] = torch.zeros(1)
    path = tmp_path / "ddp.pth"
    torch.save({"meta": {"epoch": 3}, "state_dict": wrapped}, path)
    model = zoo.load_model(ENTRY)
    load_checkpoint(model.module, path, zoo.checkpoint_card(ENTRY))
    _assert_loaded(model.module, {**model.module.state_dict(), **state})


def test_mismatch_names_missing_and_unexpected_keys(tmp_path: Path, built: zoo.ZooModel) -> None:
    state = _random_state(built.module)
    dropped = [k for k in state if k.startswith("blocks.5.")]
    for key in dropped:
        del state[key]
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "bad.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointMismatchError) as info:
        zoo.load_model(ENTRY, checkpoint=path)
    err = info.value
    n_missing = len([k for k in dropped if not k.endswith("num_batches_tracked")])
    assert len(err.missing) == n_missing and err.unexpected == ["extra.weight"]
    msg = str(err)
    assert f"{n_missing} missing keys" in msg and "1 unexpected keys [extra.weight]" in msg
    assert "blocks.5." in msg and str(path) in msg and ENTRY in msg


def test_shape_mismatch_is_reported(tmp_path: Path, built: zoo.ZooModel) -> None:
    state = _random_state(built.module)
    state["blocks.5.proj.weight"] = torch.zeros(10, 2048)
    path = tmp_path / "shape.pyth"
    torch.save({"model_state": state}, path)
    with pytest.raises(CheckpointMismatchError, match=r"1 shape mismatches.*blocks\.5\.proj"):
        zoo.load_model(ENTRY, checkpoint=path)


def test_converter_is_used_only_when_keys_do_not_fit(tmp_path: Path) -> None:
    model = create_fast_only()
    state = _random_state(model)
    renamed = {f"other.{k}": v for k, v in state.items()}
    path = tmp_path / "other.pyth"
    torch.save({"model_state": renamed}, path)
    calls: list[str] = []
    card = zoo.checkpoint_card("fast_r50")

    def strip_other(sd: dict, card: CheckpointCard, target: dict) -> dict:
        calls.append(card.entry)
        return {k.removeprefix("other."): v for k, v in sd.items()}

    def refuse(sd: dict, card: CheckpointCard, target: dict) -> dict:
        raise ValueError("not my layout")

    with pytest.raises(CheckpointMismatchError, match="other.blocks"):
        load_checkpoint(model, path, card, converters=[refuse])
    load_checkpoint(model, path, card, converters=[refuse, strip_other])
    _assert_loaded(model, state)
    plain = tmp_path / "plain.pyth"
    torch.save(state, plain)
    load_checkpoint(model, plain, card, converters=[strip_other])
    assert calls == ["fast_r50"]


def test_caffe2_pickle_is_read_with_latin1(tmp_path: Path) -> None:
    blobs = {"conv1_w": np.ones((2, 3), dtype=np.float32), "lr": np.float32(0.1)}
    path = tmp_path / "c2.pkl"
    with path.open("wb") as fh:
        pickle.dump({"blobs": blobs, "model_iter": 7}, fh, protocol=2)
    state = extract_state_dict(read_checkpoint(path))
    assert list(state) == ["conv1_w"] and state["conv1_w"].shape == (2, 3)
    with pytest.raises(CheckpointMismatchError, match="conv1_w"):
        load_checkpoint(create_fast_only(), path, zoo.checkpoint_card("fast_r50"), converters=[])


def test_object_beyond_weights_is_refused_unless_trusted(tmp_path: Path) -> None:
    """A SlowFast-era file with a config object next to the weights: refused by name, and
    loaded (with a warning) once the user vouches for it through the card."""
    model = create_fast_only()
    state = _random_state(model)
    path = tmp_path / "slowfast_style.pyth"
    torch.save({"model_state": state, "cfg": argparse.Namespace(arch="fast")}, path)
    card = zoo.checkpoint_card("fast_r50")
    with pytest.raises(UnsafeCheckpointError, match="argparse.Namespace") as info:
        load_checkpoint(model, path, card, converters=[])
    assert str(path) in str(info.value) and "model.trust_checkpoint=true" in str(info.value)
    with pytest.warns(UserWarning, match="argparse.Namespace.*trust_checkpoint=true"):
        load_checkpoint(model, path, zoo.checkpoint_card("fast_r50", trust_checkpoint=True),
                        converters=[])
    _assert_loaded(model, state)


def test_native_card_never_tries_the_converters(tmp_path: Path) -> None:
    """The same SlowFast-layout file loads for a card with checkpoint_format: slowfast and is a
    plain key mismatch, without any layout conversion, for checkpoint_format: native."""
    from staticdyn.models.checkpoints import convert

    model = create_fast_only()
    state = _random_state(model)
    card = zoo.checkpoint_card("fast_r50")
    path = tmp_path / "FAST.pyth"
    torch.save({"model_state": convert.convert_from_pytorchvideo(state, card)}, path)
    load_checkpoint(model, path, card)
    _assert_loaded(model, state)
    native = zoo.checkpoint_card("fast_r50", checkpoint_format="native")
    with pytest.raises(CheckpointMismatchError) as info:
        load_checkpoint(create_fast_only(), path, native)
    assert "s1.pathway1_stem" in str(info.value) and "Layout conversion" not in str(info.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StaticDynError, match="not found"):
        zoo.load_model(ENTRY, checkpoint=tmp_path / "nope.pyth")


@pytest.mark.parametrize(
    "entry", ["c2d_r50", "i3d_r50", "slow_r50", "slowfast_r50", "x3d_xs", "x3d_s", "x3d_m",
              "mvit_base_16x4"],
)
def test_built_layout_matches_the_model_zoo_key_list(entry: str) -> None:
    """The zoo's modules have exactly the keys and shapes of PyTorchVideo's model-zoo files,
    so those files load strictly without conversion."""
    fixture = FIXTURES / f"pytorchvideo_{entry}.json"
    expected = {k: tuple(v) for k, v in json.loads(fixture.read_text())["keys"].items()}
    assert target_keys(zoo.load_model(entry).module) == expected


def test_fast_only_matches_the_authors_fast_pathway() -> None:
    """Same tensors as the authors' FAST_8x8_R50 (SlowFast key names differ, shapes must not)."""
    fixture = FIXTURES / "slowfast_FAST_8x8_R50.json"
    meta = json.loads(fixture.read_text())
    theirs = Counter(tuple(v) for v in meta["keys"].values())
    model = create_fast_only()
    ours = Counter(tuple(v) for v in target_keys(model).values())
    assert ours == theirs
    assert sum(p.numel() for p in model.parameters()) == int(meta["params"])


@pytest.mark.parametrize("layout", ["slowfast", "caffe2"])
def test_other_layouts_go_through_the_converter(tmp_path: Path, layout: str) -> None:
    """A SlowFast-code-base .pyth / Caffe2 .pkl of FastOnly loads via the converters."""
    from staticdyn.models.checkpoints import convert

    model = zoo.load_model("fast_r50")
    state = _random_state(model.module)
    foreign = convert.convert_from_pytorchvideo(state, zoo.checkpoint_card("fast_r50"),
                                                layout=layout)
    if layout == "caffe2":
        path = tmp_path / "FAST.pkl"
        path.write_bytes(pickle.dumps({"blobs": foreign, "lr": np.float32(0.1)}, protocol=2))
    else:
        path = tmp_path / "FAST.pyth"
        torch.save({"epoch": 40, "model_state": foreign, "cfg": "MODEL: ..."}, path)
    loaded = zoo.load_model("fast_r50", checkpoint=path)
    assert not loaded.untrained
    for key, value in loaded.module.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key


def test_unrecognised_layout_explains_itself(tmp_path: Path) -> None:
    path = tmp_path / "odd.pyth"
    torch.save({"model_state": {"foo.weight": torch.zeros(2)}}, path)
    with pytest.raises(CheckpointMismatchError, match="Layout conversion: .*layout"):
        zoo.load_model("fast_r50", checkpoint=path)


def test_slowfast_zoo_mvit_file_loads_into_its_entry(tmp_path: Path) -> None:
    """The SlowFast zoo's K400 MViT layout (301 keys, fused qkv, no K/V pooling in blocks
    14-15) loads strictly into ``mvit_base_16x4_slowfast``, and not into ``mvit_base_16x4``."""
    meta = json.loads((FIXTURES / "slowfast_MVIT_B_16x4_CONV.json").read_text())
    gen = torch.Generator().manual_seed(0)
    sd = {k: torch.randn(tuple(s), generator=gen) for k, s in meta["keys"].items()}
    path = tmp_path / "K400_MVIT_B_16x4_CONV.pyth"
    torch.save({"epoch": 200, "model_state": sd, "cfg": "MVIT: ..."}, path)
    model = zoo.load_model("mvit_base_16x4_slowfast", checkpoint=path)
    assert not model.untrained
    got = model.module.state_dict()
    assert torch.equal(got["blocks.13.attn.pool_k.weight"], sd["blocks.13.attn.pool_k.weight"])
    c = 96
    assert torch.equal(got["blocks.0.attn.k.weight"], sd["blocks.0.attn.qkv.weight"][c:2 * c])
    with pytest.raises(CheckpointMismatchError, match=r"blocks \[14, 15\]"):
        zoo.load_model("mvit_base_16x4", checkpoint=path)
