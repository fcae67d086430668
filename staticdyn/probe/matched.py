"""Matched pooling of VIS query states (``probe.vis_pooling=matched``, issue 13).

The default pooling of a query layer is the mean over every query (and frame): the scene. A VIS
model's queries are mostly "no object" slots, though, so the option averages only the slots
that stand for the annotated instances:

1. each clip on its own, the model's final masks (``pred_masks`` (Q, T, h, w) logits, > 0,
   bilinearly resized to the ground truth's size) are matched to the clip's annotated instances
   (bool (T, K, H, W), instances with no pixel in the clip left out) by the Hungarian algorithm
   on their spatio-temporal IoU (``scipy.optimize.linear_sum_assignment``): the matched slots S.
   The two members of a pair are never matched to each other (by embedding or otherwise):
   that would select the slots that agree, and inflate the very correlation the probe measures.
2. per query layer (the card's ``queries:`` fact): ``slot`` states (slot q is track q) give the
   mean of the states of S (and over frames for per-frame slots); ``raw_per_frame`` states (a
   per-frame decoder's raw queries, MinVIS) give, at frame t, the raw query
   ``query_order[b, t, q]`` for q in S, averaged over t and S.

A clip with no annotated instance in its frames falls back to the mean over all slots (the
default pooling). Layers without a ``queries`` fact keep their layout pooling.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn

from staticdyn.errors import StaticDynError
from staticdyn.models.io import QUERY_KINDS
from staticdyn.probe.layouts import LayerIO
from staticdyn.probe.pooling import select_output

__all__ = ["extract_matched", "match_slots", "pool_slots", "slot_states"]


def mask_iou(pred: torch.Tensor, gt: torch.Tensor) -> torch.Tensor:
    """IoU (Q, K) over the whole clip between bool masks pred (Q, T, H, W) and gt (T, K, H, W)."""
    p = pred.flatten(1).float()
    g = gt.transpose(0, 1).flatten(1).float()
    inter = p @ g.T
    union = p.sum(1)[:, None] + g.sum(1)[None] - inter
    return inter / union.clamp(min=1.0)


def match_slots(pred_masks: torch.Tensor, gt: torch.Tensor) -> np.ndarray | None:
    """The slots (sorted) the Hungarian algorithm assigns to the clip's visible instances, or
    None when no instance is visible in the clip.

    ``pred_masks``: (Q, T, h, w) logits of one clip; ``gt``: bool (T, K, H, W) of that clip.
    """
    if pred_masks.shape[1] != gt.shape[0]:
        raise StaticDynError(f"pred_masks has {pred_masks.shape[1]} frames, the clip's masks "
                             f"{gt.shape[0]}")
    visible = gt.flatten(2).any(dim=2).any(dim=0)  # (K,)
    if not bool(visible.any()):
        return None
    logits = pred_masks.float()
    if tuple(logits.shape[-2:]) != tuple(gt.shape[-2:]):
        logits = F.interpolate(logits, size=tuple(gt.shape[-2:]), mode="bilinear",
                               align_corners=False)
    iou = mask_iou(logits > 0, gt[:, visible].to(logits.device))
    rows, _ = linear_sum_assignment(-iou.cpu().double().numpy())
    return np.sort(rows)


def slot_states(x: torch.Tensor, layout: str, batch: int, where: str) -> torch.Tensor:
    """A query layer's states as (B, T', Q, C): T' = 1 for clip-level slots (``LNC``, ``NLC``),
    T for per-frame ones (``L(NT)C``, ``(NT)LC``, b-major)."""
    if layout == "LNC":
        return x.permute(1, 0, 2)[:, None]
    if layout == "NLC":
        return x[:, None]
    if layout == "L(NT)C":
        return x.transpose(0, 1).unflatten(0, (batch, -1))
    if layout == "(NT)LC":
        return x.unflatten(0, (batch, -1))
    raise StaticDynError(f"layer {where}: matched pooling reads query states in layout LNC, NLC, "
                         f"L(NT)C or (NT)LC, not {layout}")


def pool_slots(states: torch.Tensor, kind: str, slots: Sequence[np.ndarray | None],
               order: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C) float32 from (B, T', Q, C) states: per clip b the mean over frames of the states
    of ``slots[b]`` (``slot``) or of raw queries ``order[b, t, slots[b]]`` (``raw_per_frame``;
    ``order`` (B, T', Q)); all queries where ``slots[b]`` is None."""
    if kind not in QUERY_KINDS:
        raise StaticDynError(f"unknown query kind '{kind}'. Valid choices: "
                             f"{', '.join(QUERY_KINDS)}")
    states = states.float()
    if kind == "raw_per_frame" and order is None:
        raise StaticDynError("raw_per_frame query states need the forward's query_order")
    rows = []
    for b, chosen in enumerate(slots):
        s = states[b]
        if chosen is None:
            rows.append(s.mean(dim=(0, 1)))
            continue
        idx = torch.as_tensor(chosen, dtype=torch.long, device=s.device)
        if kind == "slot":
            rows.append(s[:, idx].mean(dim=(0, 1)))
        else:
            raw = order[b].to(s.device).index_select(1, idx)  # (T', |S|) raw query per frame
            if raw.shape[0] != s.shape[0]:
                raise StaticDynError(f"query_order has {raw.shape[0]} frames, the layer "
                                     f"{s.shape[0]}")
            picked = s.gather(1, raw[..., None].expand(-1, -1, s.shape[-1]))
            rows.append(picked.mean(dim=(0, 1)))
    return torch.stack(rows)


def extract_matched(
    module: nn.Module, inputs: torch.Tensor, layers: Mapping[str, str],
    io: Mapping[str, LayerIO], queries: Mapping[str, str], masks: Sequence[torch.Tensor],
) -> dict[str, torch.Tensor]:
    """One whole forward (no early stop: the final masks are needed); (B, C) per layer: query
    layers (``queries``: alias -> kind) by matched pooling, the others by their layout.

    ``masks``: one bool (T, K, H, W) tensor per clip of ``inputs`` (B, 3, T, H, W).
    """
    batch = int(inputs.shape[0])
    if len(masks) != batch:
        raise StaticDynError(f"matched pooling got masks for {len(masks)} clips, the batch has "
                             f"{batch}")
    pooled: dict[str, torch.Tensor] = {}
    raw: dict[str, torch.Tensor] = {}
    modules = dict(module.named_modules())

    def make_hook(alias: str):  # noqa: ANN202
        def hook(_mod: nn.Module, _inp: object, out: object) -> None:
            lio = io[alias]
            if alias in queries:
                x = select_output(out, lio.selector, lio.where)
                if not isinstance(x, torch.Tensor):
                    raise StaticDynError(f"layer {lio.where}: query states must be one tensor")
                raw[alias] = x.detach()
            else:
                pooled[alias] = lio.pool(out, batch)

        return hook

    handles = [modules[path].register_forward_hook(make_hook(alias))
               for alias, path in layers.items()]
    try:
        with torch.inference_mode():
            out = module(inputs)
    finally:
        for h in handles:
            h.remove()
    if not isinstance(out, Mapping) or "pred_masks" not in out:
        raise StaticDynError("probe.vis_pooling=matched needs a VIS model whose forward returns "
                             "a dict with pred_masks (B, Q, T, h, w)")
    slots = [match_slots(out["pred_masks"][b], masks[b]) for b in range(batch)]
    order = out.get("query_order")
    for alias, states in raw.items():
        lio = io[alias]
        per_slot = slot_states(states, lio.layout.name, batch, lio.where)
        pooled[alias] = pool_slots(per_slot, queries[alias], slots, order)
    missing = [a for a in layers if a not in pooled]
    if missing:
        raise StaticDynError(f"layers {missing} did not run in the forward pass")
    return {a: pooled[a] for a in layers}
