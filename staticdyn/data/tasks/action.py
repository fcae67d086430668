"""Action recognition pairs: clip groups of one window in two styles, or time-shuffled.

A group is the set of pairs that share clip A (one pair with the ``authors`` sampler, a dynamic
and a static pair with ``shared``). Clip A is decoded, stylised and transformed once; a static
pair's second member is clip A with its time axis permuted, a dynamic pair's is the same window
read in the other style. Everything random comes from the pair seeds, so the result does not
depend on which worker builds the group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from staticdyn.data.clips import build_clip, permute_clip
from staticdyn.data.pairs import DYNAMIC, Pair, clip_start, permutations_for, sample_pairs
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.base import READ_ERRORS, GroupItem, Task
from staticdyn.errors import VideoReadError

__all__ = ["READ_ERRORS", "TASK", "GroupItem", "load_group", "sample"]

def _read(source: VideoSource, video: str, style: int) -> np.ndarray:
    frames = source.read(video, style)
    if frames.ndim != 4 or frames.shape[0] < 1 or frames.shape[-1] != 3:
        raise VideoReadError(f"expected (T>=1, H, W, 3) frames, got shape {frames.shape}")
    return frames


def load_group(
    source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec, start_mode: str = "first"
) -> GroupItem:
    item = GroupItem(position, pairs)
    p0 = pairs[0]
    style_name = source.style_names
    current = f"{p0.video}@{style_name[p0.style_a]}"
    try:
        frames_a = _read(source, p0.video, p0.style_a)
        item.start = clip_start(p0.seed, frames_a.shape[0], spec.n_sample_frames, start_mode)
        clip_a = build_clip(frames_a, spec, item.start)
        item.clips.append(clip_a)
        for p in pairs:
            if p.factor == DYNAMIC:
                current = f"{p.video}@{style_name[p.style_b]}"
                frames_b = _read(source, p.video, p.style_b)
                if frames_b.shape != frames_a.shape:
                    raise VideoReadError(
                        f"style {style_name[p.style_b]} has shape {frames_b.shape}, "
                        f"style {style_name[p0.style_a]} has {frames_a.shape}")
                item.clips.append(build_clip(frames_b, spec, item.start))
            else:
                perms = permutations_for(p.seed, spec.pathway_frames)
                item.clips.append(permute_clip(clip_a, perms))
            item.rows.append((0, len(item.clips) - 1))
    except READ_ERRORS as exc:
        item.clips, item.rows = [], []
        item.skip_item = current
        item.skip_reason = f"{type(exc).__name__}: {exc}"
    return item


def sample(source: VideoSource, probe: Mapping[str, Any]) -> list[Pair]:
    """The action task's pair list (``probe.sampler``: shared or authors)."""
    return sample_pairs(source.videos, source.num_styles, int(probe["n_pairs"]),
                        int(probe["seed"]), str(probe.get("sampler", "shared")))


def load_task_group(source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec,
                    probe: Mapping[str, Any]) -> GroupItem:
    """The task interface's group builder: ``load_group`` with ``probe.clip_start``."""
    return load_group(source, position, pairs, spec, str(probe.get("clip_start", "first")))


TASK = Task("action", sample, load_task_group)
