"""Declared and verified layouts (issue 12): pooling by layout, the dry-run inference and its
refusals, card parsing, the layer table, and bit-identity with the rank rule for existing cards.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from transformers.modeling_outputs import BaseModelOutput

from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks import TASK_MODULES, get_task
from staticdyn.errors import StaticDynError, UnknownChoiceError
from staticdyn.models import zoo
from staticdyn.models.io import (
    OUTPUT_LAYOUTS,
    InputSpec,
    ModelIO,
    check_input,
    io_from_card,
    to_input_layout,
)
from staticdyn.models.spec import ZooModel
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layers_table import layer_table
from staticdyn.probe.layouts import (
    LayoutError,
    declared_channels,
    example_inputs,
    resolve_layer_io,
    takes_clips,
)
from staticdyn.probe.pooling import pool_declared, pool_output, select_output
from tests.helpers.cards import build, smoke_card

L = OUTPUT_LAYOUTS


def _arange(*shape: int) -> torch.Tensor:
    return torch.arange(float(torch.Size(shape).numel())).reshape(shape)


# -- pooling by layout ---------------------------------------------------------------------------

def test_channels_last_pools_over_time_and_space_not_channels() -> None:
    x = _arange(2, 3, 2, 2, 4)  # (B, T, H, W, C=4)
    out = pool_declared(x, L["NTHWC"], None, 2, "swin")
    assert out.shape == (2, 4)
    assert torch.allclose(out, x.mean(dim=(1, 2, 3)))
    # the same numbers laid out channels-first give the same features
    same = pool_declared(x.permute(0, 4, 1, 2, 3), L["NCTHW"], None, 2, "cf")
    assert torch.allclose(out, same)
    # the rank rule takes dim 1 (T=3 here) for the channels: the failure the issue reports
    assert pool_output(x).shape == (2, 3)


def test_nhwc_and_sequence_first_layouts() -> None:
    x = _arange(2, 3, 2, 5)  # (B, H, W, C)
    assert torch.allclose(pool_declared(x, L["NHWC"], None, 2, "l"), x.mean(dim=(1, 2)))
    tokens = _arange(4, 2, 3)  # (L=4, B=2, C=3), nn.MultiheadAttention's default
    out = pool_declared(tokens, L["LNC"], None, 2, "mha")
    assert out.shape == (2, 3)
    assert torch.allclose(out, tokens.transpose(0, 1).mean(dim=1))


def test_class_token_is_part_of_the_mean() -> None:
    x = torch.tensor([[[10.0, 0.0], [1.0, 2.0], [4.0, 4.0]]])  # class token first
    assert pool_declared(x, L["NLC"], None, 1, "vit").tolist() == [[5.0, 2.0]]


@pytest.mark.parametrize(("layout", "shape"), [("(NT)CHW", (3, 2, 2)), ("(NT)LC", (5, 4)),
                                               ("(NT)C", (4,))])
def test_time_folded_layers_give_one_row_per_clip(layout: str, shape: tuple[int, ...]) -> None:
    b, t = 2, 3
    per_frame = torch.randn(b, t, *shape)  # what each frame of each clip produced
    folded = per_frame.flatten(0, 1)  # (B*T, ...), b-major, as models fold time
    out = pool_declared(folded, L[layout], None, b, layout)
    assert out.shape == (b, shape[L[layout].channel_axis - 1])
    channel = L[layout].channel_axis + 1  # in the unfolded (B, T, ...) tensor
    dims = tuple(d for d in range(per_frame.ndim) if d not in (0, channel))
    assert torch.allclose(out, per_frame.mean(dim=dims), atol=1e-6)


@pytest.mark.parametrize(("layout", "shape"), [("NCTHW", (2, 5, 3, 4, 4)), ("NCHW", (2, 5, 4, 4)),
                                               ("NLC", (2, 7, 5)), ("NC", (2, 5))])
def test_rank_rule_layouts_reproduce_pool_output_bit_for_bit(
    layout: str, shape: tuple[int, ...]
) -> None:
    x = torch.randn(*shape, dtype=torch.float64)
    assert torch.equal(pool_declared(x, L[layout], None, 2, "l"), pool_output(x))
    thw = (2, 2, 2)
    assert torch.equal(pool_declared((x, thw), L[layout], None, 2, "l"), pool_output((x, thw)))
    paths = [x, x * 2]
    assert torch.equal(pool_declared(paths, L[layout], None, 2, "l"), pool_output(paths))


def test_a_layout_that_does_not_fit_the_output_is_refused() -> None:
    with pytest.raises(StaticDynError, match=r"layer s4: output shape \(2, 8\) does not fit "
                                             r"layout NTHWC.*Valid choices: NCTHW"):
        pool_declared(torch.zeros(2, 8), L["NTHWC"], None, 2, "s4")
    with pytest.raises(StaticDynError, match="does not fit layout NCTHW for a batch of 3"):
        pool_declared(torch.zeros(2, 8, 1, 1, 1), L["NCTHW"], None, 3, "s4")


# -- output selectors ----------------------------------------------------------------------------

def test_selectors_pick_tuple_elements_and_dict_keys() -> None:
    x, y = torch.ones(2, 3), torch.zeros(2, 3)
    assert select_output((x, y), None, "l") is x
    assert select_output((x, y), 1, "l") is y
    out = BaseModelOutput(last_hidden_state=x, hidden_states=(y,))
    assert select_output(out, "last_hidden_state", "l") is x
    assert select_output(out, 0, "l") is x
    assert select_output(x, 0, "l") is x  # transformers 5 returns x where 4 returned (x,)


def test_a_dict_output_without_selector_names_its_keys() -> None:
    out = BaseModelOutput(last_hidden_state=torch.ones(2, 3))
    with pytest.raises(StaticDynError, match="name the element.*last_hidden_state") as info:
        select_output(out, None, "enc")
    assert "\n" not in str(info.value)
    with pytest.raises(UnknownChoiceError, match="'pooler'.*last_hidden_state"):
        select_output(out, "pooler", "enc")
    with pytest.raises(UnknownChoiceError, match="output index of layer enc '5'"):
        select_output((torch.ones(1),), 5, "enc")


# -- card declarations ---------------------------------------------------------------------------

def test_card_keys_parse_with_per_layer_overrides() -> None:
    io = io_from_card({"name": "m", "layout": {"default": "NTHWC", "pool": "NCTHW"},
                       "output": {"default": "0", "enc": "last_hidden_state"},
                       "input": {"layout": "NTCHW", "keyword": "pixel_values", "frames": 8},
                       "clip": {"frames": 8}})
    assert io.declared("stage1", "features.0") == (L["NTHWC"], False, 0)
    assert io.declared("pool", "avgpool") == (L["NCTHW"], True, 0)
    assert io.declared("x", "enc") == (L["NTHWC"], False, "last_hidden_state")
    assert io.input == InputSpec("NTCHW", "pixel_values", 8)
    assert io_from_card({}) == ModelIO()


def test_card_typos_and_contradictions_fail_in_one_line() -> None:
    with pytest.raises(UnknownChoiceError, match=r"layout \(model 'm', layer s1\) 'NCHTW'.*"
                                                  r"NCTHW"):
        io_from_card({"name": "m", "layout": {"s1": "NCHTW"}})
    with pytest.raises(UnknownChoiceError, match="input layout.*'BTCHW'"):
        io_from_card({"name": "m", "input": {"layout": "BTCHW"}})
    with pytest.raises(StaticDynError, match="takes clips of 16 frames.*clip.frames=8"):
        io_from_card({"name": "m", "input": {"frames": 16}, "clip": {"frames": 8}})
    with pytest.raises(StaticDynError, match="output selector"):
        io_from_card({"name": "m", "output": 1.5})


def test_input_layouts_and_the_module_check() -> None:
    x = _arange(2, 3, 4, 5, 5)  # (B, C, T, H, W)
    assert torch.equal(to_input_layout(x, "NTCHW")[1, 2], x[1, :, 2])
    assert torch.equal(to_input_layout(x, "(NT)CHW")[4 + 2], x[1, :, 2])
    module = nn.Identity()
    check_input(InputSpec(), module, "m")  # any plain module takes NCTHW positionally
    with pytest.raises(StaticDynError, match=r"\(layout NTCHW vs NCTHW\); fix model.input"):
        check_input(InputSpec("NTCHW"), module, "m")


# -- inference on a dry run ----------------------------------------------------------------------

class ChannelsLast(nn.Module):
    """(B, C, T, H, W) -> (B, T, H', W', C') with a Linear last, like a Swin3D stage."""

    def __init__(self, cout: int = 6):
        super().__init__()
        self.proj = nn.Conv3d(3, cout, (1, 4, 4), stride=(1, 4, 4))
        self.stage = nn.Sequential(nn.LayerNorm(cout), nn.Linear(cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stage(self.proj(x).permute(0, 2, 3, 4, 1))


class SeqFirst(nn.Module):
    """Tokens in (L, B, C), as nn.MultiheadAttention users keep them."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Linear(3, 5)
        self.attn = nn.MultiheadAttention(5, 1)
        self.out = nn.Sequential(nn.Linear(5, 7))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x.flatten(2).permute(2, 0, 1))  # (T*H*W, B, 3) -> (L, B, 5)
        return self.out(self.attn(tokens, tokens, tokens)[0])


class PerFrame(nn.Module):
    """A 2-D net run on (B*T, C, H, W) frames, like TSN or X-CLIP's vision tower."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t, h, w = x.shape
        return self.conv(x.transpose(1, 2).reshape(b * t, c, h, w))


def _zoo(module: nn.Module, layers: dict[str, str], frames: int = 4, crop: int = 16) -> ZooModel:
    return ZooModel("m", module, ClipSpec(frames=frames, crop=crop, short_side=crop), layers)


def test_channels_last_is_inferred_and_verified_by_the_declared_width() -> None:
    model = _zoo(ChannelsLast(6), {"s": "stage"})
    [io] = resolve_layer_io(model, model.layers).values()
    assert (io.layout.name, io.source, io.channels) == ("NTHWC", "inferred", 6)
    assert declared_channels(model.module.stage) == (6, "Linear '1'")
    feats = extract_pooled(model.module, example_inputs(model.clip_spec), model.layers,
                           io={"s": io})
    assert feats["s"].shape == (2, 6)


def test_sequence_first_and_time_folded_outputs_are_inferred() -> None:
    seq = _zoo(SeqFirst(), {"o": "out"})
    assert resolve_layer_io(seq, seq.layers)["o"].layout.name == "LNC"
    frames = _zoo(PerFrame(), {"c": "conv"}, frames=3)
    io = resolve_layer_io(frames, frames.layers)
    assert io["c"].layout.name == "(NT)CHW" and io["c"].shape == ((6, 4, 16, 16),)
    clips = torch.randn(5, 3, 3, 16, 16)
    feats = extract_pooled(frames.module, clips, frames.layers, io=io)
    assert feats["c"].shape == (5, 4)  # one row per clip, not per frame
    per_frame = frames.module.conv(clips.transpose(1, 2).reshape(15, 3, 16, 16))
    expected = per_frame.reshape(5, 3, 4, 16, 16).mean(dim=(1, 3, 4))
    assert torch.allclose(feats["c"], expected, atol=1e-5)


def test_two_fitting_readings_stop_with_one_line() -> None:
    # no Conv/Linear/Norm inside: nothing says which axis holds the 8 channels of (2, 8, 4, 4, 4)
    net = nn.Sequential(nn.Conv3d(3, 8, 1), nn.Identity())
    model = _zoo(net, {"id": "1"}, frames=4, crop=4)
    with pytest.raises(LayoutError) as info:
        resolve_layer_io(model, model.layers)
    msg = str(info.value)
    assert "\n" not in msg
    assert "layout of layer id (1) is ambiguous: output (2, 8, 4, 4, 4)" in msg
    assert "fits NCTHW, NTHWC" in msg and "Valid choices: NCTHW, NCHW, NTHWC" in msg


def test_an_unverifiable_layer_stops_before_any_data() -> None:
    # a patch merging: its last declaring module is a LayerNorm over 4C, the output has 2C
    class Merge(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.reduction = nn.Linear(12, 6)
            self.norm = nn.LayerNorm(12)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = x.permute(0, 2, 3, 4, 1).repeat(1, 1, 1, 1, 4)
            return self.reduction(self.norm(x))

    net = nn.Sequential(Merge())
    model = _zoo(net, {"m": "0"})
    calls = []
    net.register_forward_pre_hook(lambda *_: calls.append(1))
    with pytest.raises(LayoutError, match=r"cannot verify the layout of layer m \(0\): output "
                                          r"\(2, 4, 16, 16, 6\) with a batch of 2, channels 12 "
                                          r"declared by its LayerNorm 'norm' fits no layout"):
        resolve_layer_io(model, model.layers)
    assert calls == [1]  # the dry run only
    # declaring it settles it
    declared = resolve_layer_io(model, model.layers, ModelIO(layouts={"m": "NTHWC"}))
    assert (declared["m"].source, declared["m"].channels) == ("declared", 6)


def test_declared_layouts_are_checked_and_defaults_fall_back_by_rank() -> None:
    model = _zoo(ChannelsLast(6), {"s": "stage", "p": "proj"})
    with pytest.raises(LayoutError, match=r"layer s \(stage\): output \(2, 4, 4, 4, 6\).*"
                                          "does not fit its declared layout NLC"):
        resolve_layer_io(model, model.layers, ModelIO(layouts={"s": "NLC"}))
    io = resolve_layer_io(model, model.layers, ModelIO(layout="NCTHW", layouts={"s": "NTHWC"}))
    assert (io["p"].layout.name, io["p"].source) == ("NCTHW", "model default")
    with pytest.raises(StaticDynError, match="layout/output given for 'nope'"):
        resolve_layer_io(model, model.layers, ModelIO(layouts={"nope": "NC"}))
    # a model default whose rank does not fit is not applied: the layer is inferred
    io = resolve_layer_io(model, {"s": "stage"}, ModelIO(layout="NLC"))
    assert (io["s"].layout.name, io["s"].source) == ("NTHWC", "inferred")


def test_hooks_read_the_batch_before_a_pre_hook_folds_time() -> None:
    from staticdyn.models.nets.framewise import FoldTime

    class Frames(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    net = Frames()
    net.register_forward_pre_hook(FoldTime())  # (B, C, T, H, W) -> (B*T, C, H, W)
    model = _zoo(net, {"c": "conv"}, frames=3, crop=4)
    io = resolve_layer_io(model, model.layers)
    feats = extract_pooled(net, torch.randn(7, 3, 3, 4, 4), model.layers, io=io)
    assert io["c"].layout.name == "(NT)CHW" and feats["c"].shape == (7, 4)


# -- existing cards: the vocabulary reproduces today's pooling -----------------------------------

FAST_EXISTING = ["x3d_xs", "slowfast_r50", "mvit_base_16x4", "timesformer", "toy3d"]
OTHER_EXISTING = sorted(
    n for n in zoo.list_entries()
    if n not in FAST_EXISTING and n not in ("custom", "mmaction")
    and zoo.entry_config(n).get("task") == "action" and zoo.entry_config(n).get("smoke")
    and zoo.entry_config(n).get("family") not in ("torchvision_video", "hf_video", "timm2d")
    # time-folded cards: the old rank rule never unfolded (B*T, ...) rows, nothing to compare
    and "(NT)" not in str(zoo.entry_config(n).get("layout"))
)


def _bit_identical(name: str) -> None:
    card = smoke_card(name)
    model, io = build(card)
    if io.layout is None:  # cards from before layouts: CNN maps declared, tokens inferred
        io = ModelIO(input=io.input, layout="NCTHW", output=io.output)
    layers = model.resolve_layers(list(model.layers))
    resolved = resolve_layer_io(model, layers, io)
    clips = example_inputs(model.clip_spec, seed=7)
    by_rank = extract_pooled(model.module, clips, layers)
    by_layout = extract_pooled(model.module, clips, layers, io=resolved)
    for alias in layers:
        assert torch.equal(by_rank[alias], by_layout[alias]), alias


@pytest.mark.parametrize("name", FAST_EXISTING)
def test_existing_cards_pool_bit_identically(name: str) -> None:
    _bit_identical(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", OTHER_EXISTING)
def test_every_other_existing_card_pools_bit_identically(name: str) -> None:
    _bit_identical(name)


# -- the layer table -----------------------------------------------------------------------------

def test_layer_table_lists_shape_layout_and_channels() -> None:
    model, io = build(smoke_card("swin3d_t"))
    table = layer_table(model, io=io)
    lines = table.splitlines()
    assert lines[0] == "model swin3d_t: dry run on 2 clips of 4 frames, 32x32 (* = default layers)"
    assert lines[1].split() == ["alias", "module", "path", "output", "shape", "layout",
                                "channels"]
    rows = {line.split()[0]: line for line in lines[2:]}
    assert rows["stage2*"].split()[1] == "features.2"
    assert "(2, 2, 4, 4, 192)  NTHWC (model default)  192" in rows["stage2*"]
    assert rows["stage4*"].endswith("768") and "NCTHW (declared)" in rows["pool"]


def test_layer_table_shows_why_a_layout_is_unsettled() -> None:
    card = smoke_card("custom", builder="torchvision.models.video.swin3d_t",
                      clip={"crop": 32, "short_side": 32, "frames": 4},
                      default_layers=["features.1", "features.2", "features.6"])
    model, io = build(card)
    rows = layer_table(model, io=io).splitlines()[2:]
    assert rows[0].split()[:5] == ["features.1*", "features.1", "-", "?", "-"]
    assert "cannot verify the layout of layer features.1" in rows[0]
    # the example: Swin3D stages without a declared layout give 192 and 768, not 4
    assert "NTHWC (inferred)  192" in rows[1] and "NTHWC (inferred)  768" in rows[2]


# -- which tasks get a layout dry run: the task's own clip_task fact ----------------------------

def test_clip_inputs_are_decided_by_the_task_fact_alone() -> None:
    expected = {"action": True, "vis": True, "vos": False}
    assert set(expected) == set(TASK_MODULES)  # a new task must be decided here too
    for task, clips in expected.items():
        assert get_task(task).clip_task is clips
        assert takes_clips(ClipSpec(frames=2, crop=16, short_side=16, task=task)) is clips
    vis = example_inputs(ClipSpec(frames=3, crop=16, short_side=16, task="vis"), batch=2)
    assert isinstance(vis, torch.Tensor) and vis.shape == (2, 3, 3, 16, 16)
    with pytest.raises(StaticDynError, match="task 'vos'.*needs its own example inputs"):
        example_inputs(ClipSpec(frames=2, crop=16, short_side=16, task="vos"))
    with pytest.raises(UnknownChoiceError, match="probe.task"):
        takes_clips(ClipSpec(task="nope"))
