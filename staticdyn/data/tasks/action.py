"""Action recognition pairs: clip groups of one window in two styles, or time-shuffled.

A group is the set of pairs that share clip A (one pair with the ``authors`` sampler, a dynamic
and a static pair with ``shared``). Clip A is read, stylised and transformed once; a static
pair's second member is clip A with its time axis permuted, a dynamic pair's is the same window
read in the other style, or with ``probe.dynamic_pairs=appearance_free`` clip A's
appearance-free render (``data/appearance_free.py``). Everything random comes from the pair
seeds, so the result does not depend on which worker builds the group.

Only the frames a clip uses are read: the frame count gives the window start and the clip's
frame indices (``clips.clip_indices``), and the source reads just those frames
(``VideoSource.read_frames``), once per style. The tensors are bit-identical to reading the
whole video and indexing it.

The appearance-free render is made from clip A's frames as the model will see them in time
(the picked frames, in clip order, at the video's resolution, uint8) and then goes through the
same transform as every clip (METHOD.md section 1: /255, normalise, resize, crop). So it moves
with the motion between the model's input frames, its crop is clip A's crop, and no flow is
computed on frames the model never sees. It is seeded by the pair seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from staticdyn.config import DYNAMIC_PAIRS
from staticdyn.data.appearance_free import render_appearance_free
from staticdyn.data.clips import (
    SHORT_VIDEOS,
    clip_indices,
    is_cycled,
    permute_clip,
    transform_clip,
)
from staticdyn.data.pairs import (
    DYNAMIC,
    STATIC,
    Pair,
    clip_start,
    permutations_for,
    sample_pairs,
)
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.base import READ_ERRORS, GroupItem, Task
from staticdyn.errors import UnknownChoiceError, VideoReadError

__all__ = ["READ_ERRORS", "TASK", "GroupItem", "load_group", "sample"]


def _count(source: VideoSource, video: str, style: int) -> int:
    n = int(source.frame_count(video, style))
    if n < 1:
        raise VideoReadError(f"video '{video}' has no frames")
    return n


def _read(source: VideoSource, video: str, style: int, wanted: np.ndarray) -> np.ndarray:
    frames = source.read_frames(video, style, wanted)
    if frames.ndim != 4 or frames.shape[0] != len(wanted) or frames.shape[-1] != 3:
        raise VideoReadError(
            f"expected ({len(wanted)}, H, W, 3) frames, got shape {frames.shape}")
    return frames


def load_group(
    source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec,
    start_mode: str = "first", short_videos: str = "cycle", dynamic_pairs: str = "style",
) -> GroupItem:
    """Build the clips of one pair group (``short_videos``: see ``clips.SHORT_VIDEOS``;
    ``dynamic_pairs``: ``config.DYNAMIC_PAIRS``).

    A video that cannot be read, a style whose frame count or frame size differs from clip A's,
    a video shorter than the window under ``short_videos=skip``, or a 1-frame video in a static
    pair (its shuffled clip equals the original) makes the group a skipped item, named.
    """
    if short_videos not in SHORT_VIDEOS:
        raise UnknownChoiceError("probe.short_videos", str(short_videos), SHORT_VIDEOS)
    if dynamic_pairs not in DYNAMIC_PAIRS:
        raise UnknownChoiceError("probe.dynamic_pairs", str(dynamic_pairs), DYNAMIC_PAIRS)
    item = GroupItem(position, pairs)
    p0 = pairs[0]
    style_name = source.style_names
    current = f"{p0.video}@{style_name[p0.style_a]}"
    try:
        n_a = _count(source, p0.video, p0.style_a)
        if n_a < 2 and any(p.factor == STATIC for p in pairs):
            raise VideoReadError(
                f"video '{p0.video}' has 1 frame: its time-shuffled clip equals the original, "
                "so it cannot give a static pair")
        item.start = clip_start(p0.seed, n_a, spec.n_sample_frames, start_mode)
        wanted, picks = np.unique(clip_indices(n_a, spec, item.start, short_videos, p0.video),
                                  return_inverse=True)
        frames_a = _read(source, p0.video, p0.style_a, wanted)
        clip_a = transform_clip(frames_a[picks], spec)
        item.clips.append(clip_a)
        for p in pairs:
            if p.factor == DYNAMIC and dynamic_pairs == "appearance_free":
                current = f"{p.video}@{style_name[p0.style_a]} (appearance-free render)"
                render = render_appearance_free(frames_a[picks], p.seed)
                item.clips.append(transform_clip(render, spec))
            elif p.factor == DYNAMIC:
                current = f"{p.video}@{style_name[p.style_b]}"
                n_b = _count(source, p.video, p.style_b)
                frames_b = _read(source, p.video, p.style_b, wanted if n_b == n_a else
                                 np.zeros(1, np.int64))
                if n_b != n_a or frames_b.shape[1:] != frames_a.shape[1:]:
                    raise VideoReadError(
                        f"style {style_name[p.style_b]} has shape {(n_b, *frames_b.shape[1:])}, "
                        f"style {style_name[p0.style_a]} has {(n_a, *frames_a.shape[1:])}")
                item.clips.append(transform_clip(frames_b[picks], spec))
            else:
                perms = permutations_for(p.seed, spec.pathway_frames)
                item.clips.append(permute_clip(clip_a, perms))
            item.rows.append((0, len(item.clips) - 1))
        item.cycled = is_cycled(n_a, spec, short_videos)
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
    """The task interface's group builder: ``load_group`` with ``probe.clip_start``,
    ``probe.short_videos`` and ``probe.dynamic_pairs``."""
    return load_group(source, position, pairs, spec, str(probe.get("clip_start", "first")),
                      str(probe.get("short_videos", "cycle")),
                      str(probe.get("dynamic_pairs", "style")))


TASK = Task("action", sample, load_task_group, clip_task=True)
