"""What every task provides: a pair sampler and a group builder, and what a group holds.

The extraction loop, store and metrics are the same for every task; only these two steps
differ (clips and time permutations for action recognition; a frame plus a flow image and flow
jitter for video object segmentation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from staticdyn.data.pairs import Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.errors import VideoReadError

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
    # the clip's video is shorter than the n_sample_frames window and was cycled (METHOD.md 1):
    # its "unshuffled" clip is already out of order, so runs count and report these
    cycled: bool = False


@dataclass(frozen=True)
class Task:
    """``sample(source, probe_cfg) -> pairs``; ``load_group(source, position, pairs, spec,
    probe_cfg) -> GroupItem``.

    ``clip_task``: the task feeds its models (B, C, T, H, W) clips (one tensor per pathway) cut
    from videos. The one fact that decides whether a model's layer layouts are
    declared-or-verified (the only inputs a layout dry run can build from a clip spec;
    ``staticdyn.probe.layouts.takes_clips``) and whether the data set's videos are scanned
    before pairs are drawn (``pipeline.scan_data``); a task fed other inputs (vos: a frame and
    a flow image) pools by the rank rule and reads its own sequences.
    """

    name: str
    sample: Callable[[VideoSource, Mapping[str, Any]], list[Pair]]
    load_group: Callable[[VideoSource, int, list[Pair], ClipSpec, Mapping[str, Any]], GroupItem]
    clip_task: bool = False
