"""MinVIS (NVlabs/MinVIS): the Mask2Former segmenter run on every frame alone, its queries
linked across frames afterwards by Hungarian matching of their embeddings.

Frame t's queries are matched to the already-linked queries of frame t-1 on cosine distance
of the normalised last decoder states (``scipy.optimize.linear_sum_assignment``), so slot q is
one track. Every layer runs per frame: after the mean over time, nothing in the model depends
on the frame order (the known answer of the VIS probe). The hooked decoder states stay in raw
per-frame query order; ``query_order`` (B, T, Q) says which raw query slot q is at frame t.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from staticdyn.models.nets.vis.segmenter import VisSegmenter


def link_queries(embeds: torch.Tensor) -> torch.Tensor:
    """(T, Q, C) per-frame query embeddings of one clip -> (T, Q) long: row t lists, for each
    track slot q, the raw query of frame t that continues it (frame 0: identity)."""
    t, q, _ = embeds.shape
    # cosine costs in float64 numpy: exact ties aside, independent of autocast and device
    unit = torch.nn.functional.normalize(embeds.detach().float().cpu(), dim=-1)
    unit_np = unit.numpy().astype(np.float64)
    order = torch.empty(t, q, dtype=torch.long)
    order[0] = torch.arange(q)
    for i in range(1, t):
        prev = unit_np[i - 1][order[i - 1].numpy()]  # linked slots of the previous frame
        cost = 1.0 - prev @ unit_np[i].T  # slot x raw query
        slots, raw = linear_sum_assignment(cost)
        order[i, torch.from_numpy(slots)] = torch.from_numpy(raw)
    return order


class MinVIS(VisSegmenter):
    """(B, 3, T, H, W) -> ``pred_logits`` (B, Q, K+1, mean over frames of each track),
    ``pred_masks`` (B, Q, T, H/4, W/4) per track, ``query_order`` (B, T, Q)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("frame", **kwargs)

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        out, b, t = self.segment(clips)
        logits = out["pred_logits"].view(b, t, *out["pred_logits"].shape[1:])  # (B, T, Q, K+1)
        embeds = out["pred_embds"].transpose(0, 1).reshape(b, t, *logits.shape[2:3], -1)
        order = torch.stack([link_queries(e) for e in embeds]).to(logits.device)  # (B, T, Q)
        idx = order[..., None]
        linked_logits = logits.gather(2, idx.expand(-1, -1, -1, logits.shape[-1]))
        masks = out["pred_masks"]  # (B, Q, T, h, w), raw per-frame order
        gather = order.transpose(1, 2)[..., None, None].expand(-1, -1, -1, *masks.shape[-2:])
        return {"pred_logits": linked_logits.mean(1), "pred_masks": masks.gather(1, gather),
                "query_order": order}


def minvis(**kwargs: Any) -> MinVIS:
    """Zoo builder (``conf/model/minvis_*.yaml``); defaults as ``mask2former_vis``."""
    return MinVIS(**kwargs)
