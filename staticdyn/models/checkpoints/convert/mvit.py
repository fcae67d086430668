"""SlowFast-code-base MViT keys <-> PyTorchVideo 0.1.5 MViT keys.

SlowFast computes query, key and value with one fused linear layer ``attn.qkv`` whose output
is reshaped to (3, heads, head_dim): rows [0, C) are the query, [C, 2C) the key, [2C, 3C) the
value, each head-major. PyTorchVideo 0.1.5 has three separate layers ``attn.q/k/v`` that are
reshaped to (heads, head_dim) the same way, so splitting the fused tensor into three equal
chunks along dim 0 is exact. Everything else is a rename of the top-level modules.

The SlowFast model-zoo MViT-B 16x4 file (and the Kowal et al. config) has no key/value pooling
in blocks 14 and 15, while PyTorchVideo's default config (and upstream SlowFast) pools there.
Which one a file is shows in its keys; the model must be built to match, and a mismatch is
reported by name (see common.describe_failure) instead of silently dropping tensors.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from staticdyn.models.checkpoints.convert.common import CheckpointLayoutError, Plan, Shape

#: ``pool_kv_stride_size`` that makes pytorchvideo's MViT-B 16x4 match the 301-key file: the
#: strides upstream derives from POOL_KV_STRIDE_ADAPTIVE [1, 8, 8] and the query strides at
#: blocks 1 and 3, listed for blocks 0-13 only, so blocks 14 and 15 get no K/V pooling. Use with
#: ``pool_kv_stride_adaptive=None``. (Key set verified against the fixture; the stride values
#: themselves do not show in keys and follow the upstream derivation.)
KOWAL_POOL_KV_STRIDE_SIZE: list[list[int]] = (
    [[0, 1, 8, 8], [1, 1, 4, 4], [2, 1, 4, 4]] + [[i, 1, 2, 2] for i in range(3, 14)]
)

_TOP = {
    "cls_token": "cls_positional_encoding.cls_token",
    "pos_embed": "cls_positional_encoding.pos_embed",
    "pos_embed_spatial": "cls_positional_encoding.pos_embed_spatial",
    "pos_embed_temporal": "cls_positional_encoding.pos_embed_temporal",
    "pos_embed_class": "cls_positional_encoding.pos_embed_class",
}
_PREFIX = {
    "patch_embed.proj.": "patch_embed.patch_model.",
    "norm.": "norm_embed.",
    "head.projection.": "head.proj.",
}
_QKV = re.compile(r"^(blocks\.\d+\.attn\.)qkv\.(weight|bias)$")
_BLOCK = re.compile(r"^blocks\.\d+\.")
#: pytorchvideo git main exposes every attention pool twice; the alias names point at the
#: same tensors as pool_{q,k,v}/norm_{q,k,v}.
_ALIAS = re.compile(r"^(blocks\.\d+\.attn\.)_attention_pool_([qkv])\.(pool|norm)\.(\w+)$")


def slowfast_key_to_ptv(key: str) -> str | None:
    if key in _TOP:
        return _TOP[key]
    for old, new in _PREFIX.items():
        if key.startswith(old):
            return new + key[len(old):]
    if _BLOCK.match(key):
        return key
    return None


def ptv_key_to_slowfast(key: str) -> str | None:
    inv_top = {v: k for k, v in _TOP.items()}
    if key in inv_top:
        return inv_top[key]
    for old, new in _PREFIX.items():
        if key.startswith(new):
            return old + key[len(new):]
    if _BLOCK.match(key):
        return key
    return None


def _chunk(i: int):
    def take(t: torch.Tensor) -> torch.Tensor:
        if t.shape[0] % 3:
            raise CheckpointLayoutError(
                f"fused qkv tensor of shape {tuple(t.shape)} does not split in 3 along dim 0"
            )
        return t.chunk(3, dim=0)[i]
    return take


def plan_from_slowfast(source: Mapping[str, torch.Tensor], entry: str,
                       target_keys: Mapping[str, Shape]) -> Plan:
    """Plan for a SlowFast MViT state dict (fused or separate q/k/v, any KV-pooling layout)."""
    plan = Plan()
    for key in source:
        if m := _QKV.match(key):
            for i, name in enumerate("qkv"):
                plan.add(f"{m.group(1)}{name}.{m.group(2)}", (key,), _chunk(i))
            continue
        tkey = slowfast_key_to_ptv(key)
        if tkey is None:
            plan.unmapped.append(key)
        else:
            plan.copy(tkey, key)
    return plan


def drop_pool_aliases(state: Mapping[str, torch.Tensor],
                      target_keys: Mapping[str, Shape]) -> tuple[dict[str, torch.Tensor],
                                                                 dict[str, str]]:
    """Remove pytorchvideo-main alias keys that duplicate ``pool_*``/``norm_*`` tensors.

    Only when the model lacks the alias and the canonical key holds the identical values, so a
    genuinely different tensor is never thrown away.
    """
    kept: dict[str, torch.Tensor] = {}
    ignored: dict[str, str] = {}
    for key, t in state.items():
        m = _ALIAS.match(key)
        if m and key not in target_keys:
            canon = f"{m.group(1)}{m.group(3)}_{m.group(2)}.{m.group(4)}"
            other = state.get(canon)
            if other is not None and other.shape == t.shape and (
                    other.data_ptr() == t.data_ptr() or torch.equal(other, t)):
                ignored[key] = f"alias of {canon}"
                continue
        kept[key] = t
    return kept, ignored


def ptv_to_slowfast(state: Mapping[str, torch.Tensor], entry: str) -> dict[str, torch.Tensor]:
    """PyTorchVideo MViT state dict -> SlowFast layout with fused ``attn.qkv``."""
    out: dict[str, torch.Tensor] = {}
    bad = []
    for key, t in state.items():
        m = re.match(r"^(blocks\.\d+\.attn\.)([qkv])\.(weight|bias)$", key)
        if m:
            if m.group(2) == "q":
                parts = [state.get(f"{m.group(1)}{n}.{m.group(3)}") for n in "qkv"]
                if any(p is None for p in parts):
                    bad.append(key)
                    continue
                out[f"{m.group(1)}qkv.{m.group(3)}"] = torch.cat(parts, dim=0)
            continue
        skey = ptv_key_to_slowfast(key)
        if skey is None:
            bad.append(key)
        else:
            out[skey] = t
    if bad:
        raise CheckpointLayoutError(
            f"{len(bad)} pytorchvideo keys of '{entry}' have no SlowFast MViT counterpart: "
            f"{', '.join(bad[:6])}"
        )
    return out
