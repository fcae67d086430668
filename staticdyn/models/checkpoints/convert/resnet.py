"""SlowFast-code-base ResNet / SlowFast / X3D keys <-> PyTorchVideo keys.

Both code bases build the same networks, so the mapping is by module role, not by position:
stage ``s{S}`` of SlowFast is the (S-1)-th residual stage of PyTorchVideo, whose ``blocks.N``
index depends on the model (C2D/I3D put a parameter-free pool at ``blocks.2``). The stage,
stem and head indices are therefore read off the PyTorchVideo keys instead of hard-coded.

Two places where names would mislead, handled explicitly:

* X3D stem: SlowFast ``stem.conv_xy`` (the 1x3x3 spatial conv) is PyTorchVideo
  ``conv.conv_t``, and SlowFast ``stem.conv`` (the 5x1x1 depthwise temporal conv) is
  PyTorchVideo ``conv.conv_xy``.
* X3D stage 2, block 0 (24 -> 24 channels, stride 2): SlowFast applies a BatchNorm after the
  shortcut conv, PyTorchVideo has no ``branch1_norm`` there. In eval mode that BatchNorm is an
  affine map, so it is folded exactly: its scale into the shortcut conv weight, its shift into
  ``branch2.norm_c.bias`` (the two branches are summed before the activation). The inverse
  direction writes an identity BatchNorm.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import torch

from staticdyn.models.checkpoints.card import CheckpointCard
from staticdyn.models.checkpoints.convert.common import (
    BN_EPS,
    CheckpointLayoutError,
    Plan,
    Shape,
    family_of,
)

_BLOCK_RESNET = {
    "branch1": "branch1_conv",
    "branch1_bn": "branch1_norm",
    "branch2.a": "branch2.conv_a",
    "branch2.a_bn": "branch2.norm_a",
    "branch2.b": "branch2.conv_b",
    "branch2.b_bn": "branch2.norm_b",
    "branch2.c": "branch2.conv_c",
    "branch2.c_bn": "branch2.norm_c",
}
_BLOCK_X3D = {
    **_BLOCK_RESNET,
    "branch2.b_bn": "branch2.norm_b.0",
    "branch2.se.fc1": "branch2.norm_b.1.block.0",
    "branch2.se.fc2": "branch2.norm_b.1.block.2",
}
_STEM_RESNET = {"conv": "conv", "bn": "norm"}
_STEM_X3D = {"conv_xy": "conv.conv_t", "conv": "conv.conv_xy", "bn": "norm"}
_HEAD_RESNET = {"projection": "proj"}
_HEAD_X3D = {
    "conv_5": "pool.pre_conv",
    "conv_5_bn": "pool.pre_norm",
    "lin_5": "pool.post_conv",
    "lin_5_bn": "pool.post_norm",
    "projection": "proj",
}
_FUSE = {"conv_f2s": "conv_fast_to_slow", "bn": "norm"}


def _invert(table: Mapping[str, str]) -> dict[str, str]:
    return {v: k for k, v in table.items()}


@dataclass(frozen=True)
class PtvLayout:
    """Where the stem, the four residual stages and the head sit in a PyTorchVideo model."""

    stem: int
    stages: tuple[int, int, int, int]
    head: int
    multipathway: bool
    family: str
    pathway: int  # SlowFast pathway index of a single-pathway model (card: checkpoint_pathway)

    @classmethod
    def from_keys(cls, keys: Mapping[str, Shape] | list[str], card: CheckpointCard) -> PtvLayout:
        family = family_of(card)
        entry = card.entry
        idx: set[int] = set()
        stages: set[int] = set()
        head: set[int] = set()
        multi = False
        for key in keys:
            m = re.match(r"^blocks\.(\d+)\.(.*)$", key)
            if not m:
                raise CheckpointLayoutError(
                    f"pytorchvideo key '{key}' of '{entry}' is outside model.blocks; "
                    "not a ResNet/SlowFast/X3D layout"
                )
            n, rest = int(m.group(1)), m.group(2)
            idx.add(n)
            multi |= rest.startswith("multipathway_")
            if ".res_blocks." in rest or rest.startswith("res_blocks."):
                stages.add(n)
            if rest.startswith("proj."):
                head.add(n)
        if len(stages) != 4 or len(head) != 1 or not idx:
            raise CheckpointLayoutError(
                f"pytorchvideo keys of '{entry}' show {len(stages)} residual stages and "
                f"{len(head)} heads; expected 4 and 1 (ResNet/SlowFast/X3D layout)"
            )
        s = sorted(stages)
        return cls(min(idx), (s[0], s[1], s[2], s[3]), head.pop(), multi, family, card.pathway)

    @property
    def block_table(self) -> dict[str, str]:
        return _BLOCK_X3D if self.family == "x3d" else _BLOCK_RESNET

    @property
    def stem_table(self) -> dict[str, str]:
        return _STEM_X3D if self.family == "x3d" else _STEM_RESNET

    @property
    def head_table(self) -> dict[str, str]:
        return _HEAD_X3D if self.family == "x3d" else _HEAD_RESNET

    def stage_block(self, stage: int) -> int | None:
        """PyTorchVideo block index of SlowFast stage ``s{stage}`` (1 = stem)."""
        if stage == 1:
            return self.stem
        if 2 <= stage <= 5:
            return self.stages[stage - 2]
        return None

    def stage_of_block(self, block: int) -> int | None:
        if block == self.stem:
            return 1
        if block in self.stages:
            return self.stages.index(block) + 2
        return None

    def pathway_prefix(self, block: int, pathway: int) -> str | None:
        if self.multipathway:
            return f"blocks.{block}.multipathway_blocks.{pathway}."
        return f"blocks.{block}." if pathway == self.pathway else None


_SF_STEM = re.compile(r"^s1\.pathway(\d)_stem\.(\w+)\.(\w+)$")
_SF_BLOCK = re.compile(r"^s(\d)\.pathway(\d)_res(\d+)\.(.+)\.(\w+)$")
_SF_FUSE = re.compile(r"^s(\d)_fuse\.(\w+)\.(\w+)$")
_SF_HEAD = re.compile(r"^head\.(\w+)\.(\w+)$")


def slowfast_key_to_ptv(key: str, lay: PtvLayout) -> str | None:
    """PyTorchVideo key of one SlowFast key, or None when it has no counterpart."""
    if m := _SF_STEM.match(key):
        path, layer, param = int(m.group(1)), m.group(2), m.group(3)
        prefix = lay.pathway_prefix(lay.stem, path)
        if prefix is None or layer not in lay.stem_table:
            return None
        return f"{prefix}{lay.stem_table[layer]}.{param}"
    if m := _SF_BLOCK.match(key):
        stage, path, i, layer, param = (int(m.group(1)), int(m.group(2)), m.group(3),
                                        m.group(4), m.group(5))
        block = lay.stage_block(stage)
        prefix = None if block is None else lay.pathway_prefix(block, path)
        if prefix is None or layer not in lay.block_table:
            return None
        return f"{prefix}res_blocks.{i}.{lay.block_table[layer]}.{param}"
    if m := _SF_FUSE.match(key):
        block = lay.stage_block(int(m.group(1)))
        if block is None or not lay.multipathway or m.group(2) not in _FUSE:
            return None
        return f"blocks.{block}.multipathway_fusion.{_FUSE[m.group(2)]}.{m.group(3)}"
    if m := _SF_HEAD.match(key):
        layer = lay.head_table.get(m.group(1))
        return None if layer is None else f"blocks.{lay.head}.{layer}.{m.group(2)}"
    return None


def ptv_key_to_slowfast(key: str, lay: PtvLayout) -> str | None:
    """SlowFast key of one PyTorchVideo key (inverse of :func:`slowfast_key_to_ptv`)."""
    m = re.match(r"^blocks\.(\d+)\.(.*)\.(\w+)$", key)
    if not m:
        return None
    block, rest, param = int(m.group(1)), m.group(2), m.group(3)
    if block == lay.head:
        layer = _invert(lay.head_table).get(rest)
        return None if layer is None else f"head.{layer}.{param}"
    stage = lay.stage_of_block(block)
    if stage is None:
        return None
    path = lay.pathway
    if lay.multipathway:
        if rest.startswith("multipathway_fusion."):
            layer = _invert(_FUSE).get(rest[len("multipathway_fusion."):])
            return None if layer is None else f"s{stage}_fuse.{layer}.{param}"
        pm = re.match(r"^multipathway_blocks\.(\d)\.(.*)$", rest)
        if not pm:
            return None
        path, rest = int(pm.group(1)), pm.group(2)
    if stage == 1:
        layer = _invert(lay.stem_table).get(rest)
        return None if layer is None else f"s1.pathway{path}_stem.{layer}.{param}"
    rm = re.match(r"^res_blocks\.(\d+)\.(.*)$", rest)
    if not rm:
        return None
    layer = _invert(lay.block_table).get(rm.group(2))
    if layer is None:
        return None
    return f"s{stage}.pathway{path}_res{rm.group(1)}.{layer}.{param}"


_BN_PARAMS = ("weight", "bias", "running_mean", "running_var")


def _bn_scale_shift(g: torch.Tensor, b: torch.Tensor, m: torch.Tensor,
                    v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval-mode BatchNorm as y = scale * x + shift, computed in float64 for an exact fold."""
    scale = g.double() / torch.sqrt(v.double() + BN_EPS)
    return scale, b.double() - m.double() * scale


def plan_from_slowfast(source: Mapping[str, torch.Tensor], card: CheckpointCard,
                       target_keys: Mapping[str, Shape]) -> Plan:
    """Plan mapping SlowFast-code-base keys onto the PyTorchVideo model's keys."""
    lay = PtvLayout.from_keys(target_keys, card)
    plan = Plan()
    for key in source:
        tkey = slowfast_key_to_ptv(key, lay)
        if tkey is None:
            plan.unmapped.append(key)
        else:
            plan.copy(tkey, key)
    _fold_shortcut_bns(plan, target_keys)
    return plan


def _fold_shortcut_bns(plan: Plan, target_keys: Mapping[str, Shape]) -> None:
    """Fold a shortcut BatchNorm the PyTorchVideo block lacks (X3D stage 2) into its neighbours."""
    for key in [k for k in plan.rules if k.endswith(".branch1_norm.weight")]:
        prefix = key[: -len("branch1_norm.weight")]
        conv, bias_c = prefix + "branch1_conv.weight", prefix + "branch2.norm_c.bias"
        if key in target_keys or conv not in plan.rules or bias_c not in plan.rules:
            continue
        bn_src = []
        for p in _BN_PARAMS:
            rule = plan.rules.pop(prefix + "branch1_norm." + p, None)
            if rule is None:
                raise CheckpointLayoutError(f"shortcut BatchNorm '{prefix}' lacks '{p}'")
            bn_src.append(rule[0][0])
        nbt = plan.rules.pop(prefix + "branch1_norm.num_batches_tracked", None)
        if nbt is not None:
            plan.ignored[nbt[0][0]] = "counter of a BatchNorm folded into its shortcut conv"
        conv_src, bias_src = plan.rules[conv][0][0], plan.rules[bias_c][0][0]

        def fold_w(w: torch.Tensor, g: torch.Tensor, b: torch.Tensor, m: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
            scale, _ = _bn_scale_shift(g, b, m, v)
            return (w.double() * scale.view(-1, *([1] * (w.dim() - 1)))).to(w.dtype)

        def fold_b(c: torch.Tensor, g: torch.Tensor, b: torch.Tensor, m: torch.Tensor,
                   v: torch.Tensor) -> torch.Tensor:
            _, shift = _bn_scale_shift(g, b, m, v)
            return (c.double() + shift).to(c.dtype)

        plan.replace(conv, (conv_src, *bn_src), fold_w)
        plan.replace(bias_c, (bias_src, *bn_src), fold_b)


def ptv_to_slowfast(state: Mapping[str, torch.Tensor],
                    card: CheckpointCard) -> dict[str, torch.Tensor]:
    """PyTorchVideo ResNet/SlowFast/X3D state dict -> SlowFast-code-base state dict.

    Where PyTorchVideo has a shortcut conv without BatchNorm (X3D stage 2) the SlowFast model
    needs one: an identity BatchNorm is written (weight 1, bias 0, mean 0, var 1 - eps).
    """
    lay = PtvLayout.from_keys(list(state), card)
    out: dict[str, torch.Tensor] = {}
    bad = []
    for key, t in state.items():
        skey = ptv_key_to_slowfast(key, lay)
        if skey is None:
            bad.append(key)
            continue
        out[skey] = t
        if skey.endswith(".branch1.weight"):
            bn = skey[: -len("weight")].replace(".branch1.", ".branch1_bn.")
            norm = key.replace("branch1_conv.weight", "branch1_norm.weight")
            if norm not in state:
                c = t.shape[0]
                out[bn + "weight"] = torch.ones(c, dtype=t.dtype, device=t.device)
                out[bn + "bias"] = torch.zeros(c, dtype=t.dtype, device=t.device)
                out[bn + "running_mean"] = torch.zeros(c, dtype=t.dtype, device=t.device)
                out[bn + "running_var"] = torch.full((c,), 1.0 - BN_EPS, dtype=t.dtype,
                                                     device=t.device)
                out[bn + "num_batches_tracked"] = torch.zeros((), dtype=torch.long,
                                                              device=t.device)
    if bad:
        raise CheckpointLayoutError(
            f"{len(bad)} pytorchvideo keys of '{card.entry}' have no SlowFast counterpart: "
            f"{', '.join(bad[:6])}"
        )
    return out
