"""A tiny video instance segmentation model with a known answer, for the VIS probe's tests.

It follows the VIS contract of the real entries (Mask2Former-VIS, MinVIS, DVIS; issue 13) in
miniature, so the task, matched pooling and the report can be built and tested on CPU in
seconds:

- ``backbone``: a per-frame conv stack, (B*T, C, H/4, W/4), layout ``(NT)CHW``;
- ``mask_features``: a per-frame 1x1 conv, (B*T, D, H/4, W/4), ``(NT)CHW``;
- ``frame_queries``: Q learned queries cross-attend to each frame on its own; their states come
  out in a frame-dependent raw order (frame t rolled by t, as a per-frame detector has no
  consistent slot order), (Q, B*T, D): layout ``L(NT)C``, queries ``raw_per_frame``;
- linking, as MinVIS: frame t's raw queries are matched to frame t-1's linked ones by the
  Hungarian algorithm on cosine similarity, giving ``query_order`` (B, T, Q);
- ``tracker``: per slot, the mean of the linked states over time *and* their net change from
  the first frame to the last (a temporal term whose value follows the frame order), (Q, B, D):
  ``LNC``, queries ``slot``;
- outputs: ``pred_logits`` (B, Q, K+1) from the tracker, ``pred_masks`` (B, Q, T, H/4, W/4) from
  the linked per-frame mask embeddings and the mask features, and ``query_order``.

Known answer: every part before the tracker sees one frame at a time, so after the mean over
frames its features of a clip and of its frame-shuffled copy are equal (r_static = 1 for every
live unit, no dynamic unit); the tracker's temporal term breaks that.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import nn

__all__ = ["FrameQueries", "ToyVIS", "Tracker", "link_queries"]


class FrameQueries(nn.Module):
    """One cross-attention of learned queries on each frame's features, on its own."""

    def __init__(self, width: int, dim: int, queries: int):
        super().__init__()
        self.query = nn.Embedding(queries, dim)
        self.key = nn.Conv2d(width, dim, 1)
        self.value = nn.Conv2d(width, dim, 1)
        self.norm = nn.LayerNorm(dim)

    def forward(self, feats: torch.Tensor, frames: int) -> torch.Tensor:
        """(B*T, C, h, w) -> (Q, B*T, D), frame t's queries in raw order rolled by t."""
        q = self.query.weight
        k, v = self.key(feats).flatten(2), self.value(feats).flatten(2)
        att = torch.softmax(torch.einsum("qd,ndp->nqp", q, k) / math.sqrt(q.shape[1]), dim=-1)
        out = self.norm(torch.einsum("nqp,ndp->nqd", att, v) + q)
        n, nq, _ = out.shape
        t = torch.arange(n, device=out.device) % frames
        raw = (torch.arange(nq, device=out.device)[None] + t[:, None]) % nq
        out = out.gather(1, raw[..., None].expand_as(out))
        return out.transpose(0, 1)


def link_queries(states: torch.Tensor) -> torch.Tensor:
    """query_order (B, T, Q), long: slot q at frame t is raw query order[b, t, q], linked to
    frame t-1's slot q by the Hungarian algorithm on cosine similarity (frame 0: identity)."""
    b, t, q, _ = states.shape
    unit = nn.functional.normalize(states.detach().float(), dim=-1).cpu()
    order = np.zeros((b, t, q), np.int64)
    order[:, 0] = np.arange(q)
    for i in range(b):
        for j in range(1, t):
            ref = unit[i, j - 1, order[i, j - 1]]
            _, cols = linear_sum_assignment(-(ref @ unit[i, j].T).numpy())
            order[i, j] = cols
    return torch.from_numpy(order).to(states.device)


class Tracker(nn.Module):
    """Slot states from the linked per-frame states: their mean over time and their net change
    from the first to the last frame (order-dependent), projected."""

    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Linear(2 * dim, dim)

    def forward(self, linked: torch.Tensor) -> torch.Tensor:
        """(B, T, Q, D) -> (Q, B, D)."""
        change = linked[:, -1] - linked[:, 0]
        out = torch.relu(self.proj(torch.cat([linked.mean(dim=1), change], dim=-1)))
        return out.transpose(0, 1)


class ToyVIS(nn.Module):
    """See the module docstring. Input (B, 3, T, H, W), H and W divisible by 4."""

    def __init__(self, width: int = 8, dim: int = 16, queries: int = 6, num_classes: int = 6):
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU())
        self.mask_features = nn.Conv2d(width, dim, 1)
        self.frame_queries = FrameQueries(width, dim, queries)
        self.tracker = Tracker(dim)
        self.mask_embed = nn.Linear(dim, dim)
        self.class_embed = nn.Linear(dim, num_classes + 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        b, _, t, h, w = x.shape
        frames = x.transpose(1, 2).flatten(0, 1)  # (B*T, 3, H, W), row b*T + t
        feats = self.backbone(frames)
        mask_feats = self.mask_features(feats)
        raw = self.frame_queries(feats, t)  # (Q, B*T, D)
        per_frame = raw.transpose(0, 1).unflatten(0, (b, t))  # (B, T, Q, D)
        order = link_queries(per_frame)
        linked = per_frame.gather(2, order[..., None].expand_as(per_frame))
        slots = self.tracker(linked)  # (Q, B, D)
        masks = torch.einsum("btqd,btdhw->bqthw", self.mask_embed(linked),
                             mask_feats.unflatten(0, (b, t)))
        return {"pred_logits": self.class_embed(slots.transpose(0, 1)), "pred_masks": masks,
                "query_order": order}
