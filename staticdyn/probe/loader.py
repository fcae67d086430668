"""Builds the model inputs of one pair group, in a DataLoader worker or in the main process.

A group is the set of pairs that share clip A (one pair with the ``authors`` sampler, a dynamic
and a static pair with ``shared``). Clip A is decoded, stylised and transformed once; a static
pair's second member is clip A with its time axis permuted, a dynamic pair's is the same window
read in the other style. Everything random comes from the pair seeds, so the result does not
depend on which worker builds the group.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from staticdyn.data.clips import build_clip, permute_clip
from staticdyn.data.pairs import DYNAMIC, Pair, clip_start, permutations_for
from staticdyn.data.source import VideoSource
from staticdyn.errors import VideoReadError
from staticdyn.models.spec import ClipSpec

# What a reader may raise for a bad file: skipped and counted, never fatal to the run.
READ_ERRORS: tuple[type[BaseException], ...] = (VideoReadError, OSError, ValueError, EOFError)


@dataclass
class GroupItem:
    position: int  # index of the group in the run's group list
    pairs: list[Pair]
    clips: list[list[torch.Tensor]] = field(default_factory=list)  # clip -> pathway tensors
    rows: list[tuple[int, int]] = field(default_factory=list)  # per pair: (clip a, clip b)
    start: int = 0
    skip_reason: str | None = None
    skip_item: str = ""


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


class GroupDataset(torch.utils.data.Dataset):
    """Map-style dataset over pair groups, for torch's DataLoader (workers, pinned memory).

    ``load_fn(source, position, pairs, spec, probe_cfg)`` is the task's group builder.
    """

    def __init__(self, source: VideoSource, groups: list[tuple[int, list[Pair]]], spec: ClipSpec,
                 load_fn: Callable[..., GroupItem], probe_cfg: Mapping[str, Any]):
        self.source, self.groups, self.spec = source, groups, spec
        self.load_fn, self.probe_cfg = load_fn, dict(probe_cfg)

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> GroupItem:
        position, pairs = self.groups[i]
        return self.load_fn(self.source, position, pairs, self.spec, self.probe_cfg)


def collate_groups(items: list[GroupItem]) -> list[GroupItem]:
    return items
