"""probe.api: ``extract(model, x, layers)`` gives each layer's globally averaged output, and
``staticdyn.load_model(...).extract`` is that same function."""

from __future__ import annotations

import pytest
import torch

import staticdyn
from staticdyn.errors import UnknownLayerError
from staticdyn.models import zoo
from staticdyn.probe import api

SMALL = {"builder_kwargs": {"width": 4}, "clip": {"crop": 32}}


@pytest.fixture(scope="module")
def toy() -> zoo.ZooModel:
    torch.manual_seed(0)
    return zoo.load_model("toy3d", **SMALL)


@pytest.fixture(scope="module")
def clip() -> torch.Tensor:
    return torch.randn(2, 3, 4, 32, 32, generator=torch.Generator().manual_seed(1))


def _by_hand(model: zoo.ZooModel, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every block's output of a plain full forward, averaged over T, H, W."""
    outs: dict[str, torch.Tensor] = {}
    handles = [model.module.get_submodule(path).register_forward_hook(
        lambda _m, _i, out, path=path: outs.__setitem__(path, out.mean(dim=(2, 3, 4))))
        for path in model.layers.values()]
    try:
        with torch.no_grad():
            model.module(x)
    finally:
        for h in handles:
            h.remove()
    return outs


def test_extract_gives_the_averaged_output_of_each_named_layer(toy, clip) -> None:  # noqa: ANN001
    ref = _by_hand(toy, clip)
    feats = api.extract(toy, clip, ["stage3", "stage1"])
    assert list(feats) == ["stage3", "stage1"]
    for alias, got in feats.items():
        assert got.shape == (2, 4 * {"stage1": 1, "stage3": 4}[alias])
        assert torch.equal(got, ref[toy.layers[alias]])


def test_default_layers_and_module_paths(toy, clip) -> None:  # noqa: ANN001
    feats = api.extract(toy, clip)
    assert list(feats) == toy.default_layers == ["stage1", "stage2", "stage3", "stage4"]
    by_path = api.extract(toy, clip, ["blocks.2"])
    assert torch.equal(by_path["blocks.2"], feats["stage3"])


def test_unknown_layer_lists_the_aliases(toy, clip) -> None:  # noqa: ANN001
    with pytest.raises(UnknownLayerError, match="stage4"):
        api.extract(toy, clip, ["stage9"])


def test_load_model_extract_is_the_api_function(monkeypatch, clip) -> None:  # noqa: ANN001
    calls: list[tuple[str, dict[str, str]]] = []
    real = api.extract_pooled

    def spy(module, inputs, layers, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append((type(module).__name__, dict(layers)))
        return real(module, inputs, layers, *args, **kwargs)

    torch.manual_seed(0)
    loaded = staticdyn.load_model("toy3d", **SMALL)
    assert isinstance(loaded, api.ProbeModel)
    monkeypatch.setattr(api, "extract_pooled", spy)
    via_object = loaded.extract(clip, ["stage2"])
    via_function = api.extract(loaded.model, clip, ["stage2"])
    assert calls == [("Tiny3D", {"stage2": "blocks.1"})] * 2
    assert torch.equal(via_object["stage2"], via_function["stage2"])


def test_probe_model_is_the_zoo_model_otherwise() -> None:
    torch.manual_seed(0)
    loaded = staticdyn.load_model("toy3d", **SMALL)
    torch.manual_seed(0)
    plain = zoo.load_model("toy3d", **SMALL)
    assert loaded.name == "toy3d" and loaded.layers == plain.layers
    assert loaded.clip_spec == plain.clip_spec and loaded.untrained
    assert loaded.module is loaded.model.module
    state, ref = loaded.module.state_dict(), plain.module.state_dict()
    assert all(torch.equal(state[k], ref[k]) for k in ref)  # same card, same seed, same weights
    with pytest.raises(AttributeError):
        loaded.no_such_attribute  # noqa: B018
