"""Mask2Former-VIS (facebookresearch/Mask2Former, ``mask2former_video``): one set of queries
per clip, decoded against every frame's tokens at once with a 3-D position encoding.

Its decoder layers are the only part of the model that can tell frame orders apart (through
the time term of the encoding); backbone and pixel decoder run frame by frame.
"""

from __future__ import annotations

from typing import Any

import torch

from staticdyn.models.nets.vis.segmenter import VisSegmenter


class Mask2FormerVIS(VisSegmenter):
    """(B, 3, T, H, W) -> ``pred_logits`` (B, Q, K+1), ``pred_masks`` (B, Q, T, H/4, W/4)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("video", **kwargs)

    def forward(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        out, _, _ = self.segment(clips)
        return {"pred_logits": out["pred_logits"], "pred_masks": out["pred_masks"]}


def mask2former_vis(**kwargs: Any) -> Mask2FormerVIS:
    """Zoo builder (``conf/model/mask2former_vis_*.yaml``); defaults: the R50 YouTube-VIS
    2019 model (40 classes, 100 queries, 6 encoder and 9 decoder layers, width 256)."""
    return Mask2FormerVIS(**kwargs)
