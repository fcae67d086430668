"""``staticdyn.load_model`` on any ``torch.nn.Module`` (issue 12): no YAML card; layers by module
path or alias; the input converted to the layout the module takes; layouts declared or verified
on a dry run; a local checkpoint loaded strictly; zoo overrides reach interpolated card values.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import staticdyn
from staticdyn.errors import CheckpointMismatchError, StaticDynError
from staticdyn.models import zoo
from staticdyn.probe import api
from staticdyn.probe.layouts import LayoutError
from tests.helpers.known import Net3D

CLIP = {"frames": 4, "crop": 16, "short_side": 16}


class TimeFirst(nn.Module):
    """Hugging Face style: (B, T, C, H, W) by keyword; a channels-last layer (B, T, H, W, C)."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv3d(3, 5, 1)
        self.last = nn.Identity()

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        assert pixel_values.shape[2] == 3, "channels must be dim 2"
        x = self.proj(pixel_values.transpose(1, 2))  # (B, 5, T, H, W)
        return self.last(x.permute(0, 2, 3, 4, 1))  # (B, T, H, W, 5)


class Frames2D(nn.Module):
    """A 2-D network that takes frames folded into the batch, (B*T, C, H, W)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 7, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.ndim == 4
        return self.conv(x)


def _clips(n: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, 4, 16, 16, generator=torch.Generator().manual_seed(seed))


def test_a_module_by_module_paths_gives_its_averaged_outputs() -> None:
    torch.manual_seed(0)
    net = Net3D()
    model = staticdyn.load_model(net, layers=["stem", "block"], clip=CLIP)
    assert isinstance(model, api.ProbeModel) and model.prebuilt and model.module is net
    assert model.name == "Net3D" and not model.untrained  # staticdyn cannot tell: not flagged
    x = _clips()
    feats = model.extract(x)
    with torch.no_grad():
        stem = net.stem(x)
        block = net.block(stem)
    assert torch.allclose(feats["stem"], stem.mean(dim=(2, 3, 4)))
    assert torch.allclose(feats["block"], block.mean(dim=(2, 3, 4)))
    # the clip defaults are the custom card's, under the caller's fields
    custom = zoo.entry_config("custom")["clip"]
    assert model.clip_spec.sampling_rate == custom["sampling_rate"]
    assert model.clip_spec.mean == tuple(custom["mean"]) and model.clip_spec.crop == 16


def test_aliases_and_show_layers(capsys: pytest.CaptureFixture[str]) -> None:
    model = staticdyn.load_model(Net3D(), layers={"s1": "stem", "s2": "block"}, clip=CLIP,
                                 name="mynet")
    assert model.default_layers == ["s1", "s2"] and model.name == "mynet"
    text = model.show_layers()
    assert text in capsys.readouterr().out
    rows = {line.split()[0]: line.split() for line in text.splitlines()[2:]}
    assert rows["s1*"][1] == "stem" and rows["s2*"][1] == "block"
    assert "NCTHW (inferred)" in text and rows["s2*"][-1] == "6"
    assert set(model.extract(_clips(), ["s2", "stem"])) == {"s2", "stem"}


def test_time_first_input_by_keyword_with_a_declared_channels_last_layer() -> None:
    net = TimeFirst()
    with pytest.raises(LayoutError, match="last"):  # (B, T, H, W, 5): not verifiable alone
        staticdyn.load_model(net, layers=["last"], clip=CLIP, input_layout="NTCHW",
                             keyword="pixel_values").extract(_clips())
    model = staticdyn.load_model(net, layers=["last"], clip=CLIP, input_layout="NTCHW",
                                 keyword="pixel_values", layouts={"last": "NTHWC"})
    x = _clips()
    feats = model.extract(x)["last"]
    with torch.no_grad():
        ref = net.proj(x).mean(dim=(2, 3, 4))
    assert feats.shape == (3, 5) and torch.allclose(feats, ref, atol=1e-6)
    # wrapping the module again replaces the input hook, it does not convert twice
    again = staticdyn.load_model(net, layers=["last"], clip=CLIP, input_layout="NTCHW",
                                 keyword="pixel_values", layouts="NTHWC")
    assert torch.allclose(again.extract(x)["last"], ref, atol=1e-6)
    assert len(net._forward_pre_hooks) == 1


def test_a_time_folded_module_gives_one_row_per_clip() -> None:
    net = Frames2D()
    model = staticdyn.load_model(net, layers=["conv"], clip=CLIP, input_layout="(NT)CHW")
    x = _clips(n=2)
    feats = model.extract(x)["conv"]
    with torch.no_grad():
        frames = net.conv(x.transpose(1, 2).reshape(8, 3, 16, 16))  # (B*T, 7, H, W)
    assert feats.shape == (2, 7)
    assert torch.allclose(feats, frames.reshape(2, 4, 7, 16, 16).mean(dim=(1, 3, 4)), atol=1e-6)
    assert "(NT)CHW (inferred)" in model.show_layers()


def test_a_checkpoint_loads_strictly(tmp_path: Path) -> None:
    torch.manual_seed(1)
    reference = Net3D()
    path = tmp_path / "net.pth"
    torch.save(reference.state_dict(), path)
    torch.manual_seed(2)
    model = staticdyn.load_model(Net3D(), checkpoint=path, layers=["block"], clip=CLIP)
    assert model.checkpoint == str(path)
    for key, value in reference.state_dict().items():
        assert torch.equal(model.module.state_dict()[key], value), key
    state = reference.state_dict()
    del state["block.0.bias"]
    torch.save(state, path)
    with pytest.raises(CheckpointMismatchError, match=r"block\.0\.bias"):
        staticdyn.load_model(Net3D(), checkpoint=path, layers=["block"], clip=CLIP)


def test_bad_input_is_refused_in_one_line() -> None:
    with pytest.raises(StaticDynError, match="zoo entry name or a torch.nn.Module.*x3d_xs"):
        staticdyn.load_model(42)
    with pytest.raises(StaticDynError, match="unknown keyword 'colour'"):
        staticdyn.load_model(Net3D(), colour="red")
    with pytest.raises(StaticDynError, match="point to no module: s -> nope"):
        staticdyn.load_model(Net3D(), layers={"s": "nope"})
    with pytest.raises(StaticDynError, match="input layout.*NTHWC.*Valid"):
        staticdyn.load_model(Net3D(), layers=["stem"], input_layout="NTHWC")
    with pytest.raises(StaticDynError, match="names no default layers.*stem"):
        staticdyn.load_model(Net3D(), clip=CLIP).extract(_clips())


def test_zoo_overrides_reach_interpolated_card_values(tmp_path: Path) -> None:
    """``hf_path=`` is merged before the card's interpolations resolve, so it reaches
    ``builder_kwargs.path`` (it did not: the card was resolved first, then merged)."""
    card = zoo.entry_card("videomae_base", {"hf_path": str(tmp_path)})
    assert card["builder_kwargs"]["path"] == str(tmp_path)
    with pytest.raises(StaticDynError, match=f"hf_path '{tmp_path}'"):
        staticdyn.load_model("videomae_base", hf_path=str(tmp_path))
    # objects YAML cannot hold still merge, after resolution
    norm = nn.BatchNorm3d
    merged = zoo.entry_card("toy3d", {"builder_kwargs": {"width": 4, "norm": norm}})
    assert merged["builder_kwargs"]["norm"] is norm and merged["builder_kwargs"]["width"] == 4


def test_zoo_layers_and_layouts_through_load_model() -> None:
    model = staticdyn.load_model("toy3d", layers={"first": "blocks.0"},
                                 builder_kwargs={"width": 4}, clip={"crop": 32})
    assert model.entry == "toy3d" and not model.prebuilt
    assert model.default_layers == ["first"] and model.layers["stage2"] == "blocks.1"
    assert model.extract(torch.randn(1, 3, 4, 32, 32))["first"].shape == (1, 4)


def test_import_staticdyn_stays_cheap_and_probe_is_callable() -> None:
    code = ("import sys, staticdyn; assert 'torch' not in sys.modules, 'torch'; "
            "assert 'hydra' not in sys.modules, 'hydra'; assert callable(staticdyn.probe); "
            "import staticdyn.probe.api as a; assert callable(staticdyn.probe); "
            "assert staticdyn.load_model is a.load_model; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=False)
    assert out.stdout.strip() == "ok", out.stderr
