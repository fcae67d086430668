"""timm2d, the frame-wise static baseline (issue 12): stages from timm's feature_info, one row
per clip from time-folded layers, blind to frame order (r_static = 1 for every live unit, no
dynamic unit), timm's own state-dict keys.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from staticdyn.errors import StaticDynError
from staticdyn.metrics.unitwise import classify_units, unit_scores
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import example_inputs, resolve_layer_io
from tests.helpers.cards import build, smoke_card

RESNET18 = {"stage1": 64, "stage2": 64, "stage3": 128, "stage4": 256, "stage5": 512,
            "pool": 512}


@pytest.fixture(scope="module")
def resnet() -> tuple:
    torch.manual_seed(0)
    model, io = build(smoke_card("timm2d"))
    layers = model.resolve_layers(list(model.layers))
    return model, layers, resolve_layer_io(model, layers, io)


def test_stages_come_from_feature_info_and_pool_per_clip(resnet: tuple) -> None:
    model, layers, resolved = resnet
    assert model.layers == {"stage1": "act1", "stage2": "layer1", "stage3": "layer2",
                            "stage4": "layer3", "stage5": "layer4", "pool": "fc"}
    assert model.default_layers == [f"stage{i}" for i in range(1, 6)]
    assert {k: r.layout.name for k, r in resolved.items()} == {
        **{f"stage{i}": "(NT)CHW" for i in range(1, 6)}, "pool": "(NT)C"}
    clips = example_inputs(model.clip_spec, batch=3, seed=1)
    feats = extract_pooled(model.module, clips, layers, io=resolved)
    assert {k: tuple(v.shape) for k, v in feats.items()} == {k: (3, w) for k, w in RESNET18.items()}
    # the clip output is the per-frame feature averaged over time
    with torch.inference_mode():
        out = model.module(clips)
    assert out.shape == (3, 512)
    assert torch.allclose(out, feats["pool"], atol=1e-5)


def test_frame_order_does_not_change_any_feature(resnet: tuple) -> None:
    """Static pairs (a clip and its frames shuffled) are identical to float precision, so
    r_static = 1 for every live unit and no unit is dynamic."""
    model, layers, resolved = resnet
    gen = torch.Generator().manual_seed(5)
    clips = torch.randn(6, 3, model.clip_spec.frames, 32, 32, generator=gen)
    shuffled = clips[:, :, torch.randperm(clips.shape[2], generator=gen)]
    other = torch.randn(clips.shape, generator=gen)  # dynamic pairs: other appearance
    za = extract_pooled(model.module, torch.cat([clips, clips]), layers, io=resolved)
    zb = extract_pooled(model.module, torch.cat([shuffled, other]), layers, io=resolved)
    factor = np.array([1] * 6 + [0] * 6)  # static pairs, then dynamic pairs
    for alias in layers:
        a, b = za[alias].double().numpy(), zb[alias].double().numpy()
        assert np.allclose(a[:6], b[:6], rtol=1e-5, atol=1e-6), alias
        r_dyn, r_static, dead = unit_scores(a, b, factor)
        live = ~dead
        assert live.sum() > 0, alias
        assert np.all(r_static[live] > 1 - 1e-4), (alias, r_static[live].min())
        assert "dynamic" not in set(classify_units(r_dyn, r_static, dead).tolist()), alias


def test_a_timm_checkpoint_loads_strictly(tmp_path: Path) -> None:
    torch.manual_seed(3)
    reference = timm.create_model("resnet18", pretrained=False, num_classes=0)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(4)
    model, _ = build(smoke_card("timm2d", checkpoint=str(path)))
    expected = reference.state_dict()
    loaded = model.module.state_dict()
    assert loaded.keys() == expected.keys()
    assert all(torch.equal(loaded[k], expected[k]) for k in expected)


def test_any_timm_arch_and_its_errors() -> None:
    model, io = build(smoke_card("timm2d", arch="vit_tiny_patch16_224",
                                 builder_kwargs={"img_size": 32}))
    blocks = resolve_layer_io(model, model.resolve_layers(["stage12"]), io)
    # a ViT block is (B*T, L, C): the (NT)CHW default does not fit its rank, so it is inferred
    assert (blocks["stage12"].layout.name, blocks["stage12"].source) == ("(NT)LC", "inferred")
    assert blocks["stage12"].channels == 192
    with pytest.raises(StaticDynError, match="timm has no model 'resnet_nope'"):
        build(smoke_card("timm2d", arch="resnet_nope"))
    with pytest.raises(StaticDynError, match="never downloads"):
        build(smoke_card("timm2d", builder_kwargs={"pretrained": True}))
