"""Video instance segmentation pairs (``probe=vis``): clip pairs as for action recognition, plus
each clip's ground-truth instance masks.

The pairs are the action task's (``tasks.action``; samplers ``shared`` and ``authors``): a
dynamic pair is the same T-frame clip in two styles, a static pair a stylised clip and its
frame-shuffled copy. A clip is T consecutive annotated frames: the model card sets
``clip.frames = clip.n_sample_frames = T``, and the action task's window and subsampling then
pick exactly T consecutive entries of the video's ``file_names``.

Each clip also carries its instance masks, bool (T, n_instances, crop, crop), after the same
spatial transform as the frames (short-side resize, centre crop) and, for a shuffled clip, in
the same shuffled order: matched pooling (``probe.vis_pooling=matched``,
``staticdyn.probe.matched``) matches every clip's own predicted masks to them. The masks are
built only when that pooling asks for them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from staticdyn.config import VIS_POOLINGS
from staticdyn.data.clips import clip_indices, short_side_size
from staticdyn.data.pairs import STATIC, Pair, permutations_for
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import load_group, sample
from staticdyn.data.tasks.base import READ_ERRORS, GroupItem, Task
from staticdyn.errors import DatasetError

__all__ = ["POOLINGS", "TASK", "VisGroupItem", "load_vis_group", "sample_vis",
           "transform_masks"]

#: ``probe.vis_pooling``: ``mean`` over queries and frames (the scene-level default, the
#: layout pooling) or ``matched`` (the slots matched to the annotated instances).
POOLINGS: tuple[str, ...] = VIS_POOLINGS


@dataclass
class VisGroupItem(GroupItem):
    """A group of clip pairs with, per clip, its instance masks (empty unless matched)."""

    masks: list[torch.Tensor] = field(default_factory=list)  # clip -> (T, K, crop, crop) bool


def transform_masks(masks: np.ndarray, spec: ClipSpec) -> torch.Tensor:
    """bool (T, K, H, W) -> bool (T, K, crop, crop): the frames' short-side resize (bilinear
    on the 0/1 mask, then > 0.5) and centre crop (``clips.normalize_resize_crop``)."""
    x = torch.as_tensor(np.ascontiguousarray(masks)).float()
    t, k, h, w = x.shape
    nh, nw = short_side_size(h, w, spec.short_side)
    if (nh, nw) != (h, w) and k:
        x = F.interpolate(x, size=(nh, nw), mode="bilinear", align_corners=False)
    elif (nh, nw) != (h, w):
        x = x.new_zeros(t, k, nh, nw)
    top, left = (nh - spec.crop) // 2, (nw - spec.crop) // 2
    return (x[:, :, top: top + spec.crop, left: left + spec.crop] > 0.5).contiguous()


def load_vis_group(source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec,
                   probe: Mapping[str, Any]) -> VisGroupItem:
    """The action task's group (clips, rows, skips), plus per-clip masks for matched pooling."""
    base = load_group(source, position, pairs, spec, str(probe.get("clip_start", "first")),
                      str(probe.get("short_videos", "stretch")))
    item = VisGroupItem(**vars(base))
    if item.skip_reason or str(probe.get("vis_pooling", "mean")) != "matched":
        return item
    reader = getattr(source, "instance_masks", None)
    if reader is None:
        raise DatasetError(f"probe.vis_pooling=matched needs instance masks; dataset "
                           f"'{source.name}' has none (a YouTube-VIS layout dataset has them)")
    p0 = pairs[0]
    try:
        n = int(source.frame_count(p0.video, p0.style_a))
        idx = clip_indices(n, spec, item.start, str(probe.get("short_videos", "stretch")),
                           p0.video)
        masks = transform_masks(reader(p0.video, idx), spec)
    except READ_ERRORS as exc:
        item.clips, item.rows = [], []
        item.skip_item, item.skip_reason = p0.video, f"{type(exc).__name__}: {exc}"
        return item
    item.masks = [masks]
    for p in pairs:  # clip order: clip A, then each pair's second member
        if p.factor == STATIC:
            [perm] = permutations_for(p.seed, [masks.shape[0]])
            item.masks.append(masks.index_select(0, torch.as_tensor(perm, dtype=torch.long)))
        else:
            item.masks.append(masks)
    return item


def sample_vis(source: VideoSource, probe: Mapping[str, Any]) -> list[Pair]:
    """The action task's pairs; with ``probe.vis_pooling=matched`` a dataset without instance
    masks is refused here, before any model is built or clip read."""
    if str(probe.get("vis_pooling", "mean")) == "matched":
        base = getattr(source, "source", source)  # a ReadableSubset reads from its source
        if not callable(getattr(base, "instance_masks", None)):
            raise DatasetError(f"probe.vis_pooling=matched needs instance masks; dataset "
                               f"'{source.name}' has none. Valid choices: a YouTube-VIS layout "
                               "dataset (youtube_vis_2019, youtube_vis_2021, ovis, "
                               "synthetic_vis), or probe.vis_pooling=mean")
    return sample(source, probe)


TASK = Task("vis", sample_vis, load_vis_group, clip_task=True)  # VIS models take clips too
