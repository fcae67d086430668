"""models.spec.ZooModel: layer names resolve to module paths, in request order, or fail naming
every alias and path; a model is put in eval mode and defaults to all of its aliases."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from staticdyn.data.spec import ClipSpec
from staticdyn.errors import UnknownLayerError
from staticdyn.models.spec import ZooModel


def _net() -> nn.Module:
    return nn.Sequential(nn.Conv3d(3, 4, 1), nn.BatchNorm3d(4), nn.ReLU())


def _model(**kw: object) -> ZooModel:
    return ZooModel(name="net", module=_net(), clip_spec=ClipSpec(),
                    layers={"conv": "0", "norm": "1"}, **kw)  # type: ignore[arg-type]


def test_built_in_eval_mode_with_every_alias_as_default() -> None:
    model = _model()
    assert not model.module.training
    assert model.default_layers == ["conv", "norm"]
    assert _model(default_layers=["norm"]).default_layers == ["norm"]


def test_aliases_and_module_paths_resolve_in_request_order() -> None:
    model = _model()
    assert model.resolve_layers(["norm", "2", "conv"]) == {"norm": "1", "2": "2", "conv": "0"}
    assert model.resolve_layers(None) == {"conv": "0", "norm": "1"}
    assert model.resolve_layers([]) == {"conv": "0", "norm": "1"}


def test_unknown_layer_lists_aliases_and_paths() -> None:
    with pytest.raises(UnknownLayerError) as info:
        _model().resolve_layers(["conv", "head"])
    message = str(info.value)
    assert "'head'" in message and "'net'" in message
    assert "conv" in message and "norm" in message and "2" in message
    assert info.value.name == "head"


def test_root_is_not_a_layer() -> None:
    assert "" not in _model().module_paths()
    with pytest.raises(UnknownLayerError):
        _model().resolve_layers([""])


def test_device_follows_the_parameters() -> None:
    assert _model().device == torch.device("cpu")
    bare = ZooModel(name="relu", module=nn.ReLU(), clip_spec=ClipSpec(), layers={})
    assert bare.device == torch.device("cpu")  # no parameters: cpu, not StopIteration
