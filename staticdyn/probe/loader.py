"""Builds the model inputs of pair groups in DataLoader workers or in the main process.

The task (``staticdyn.data.tasks``) knows how one group is built; this module only wraps that
in a map-style dataset so torch's DataLoader can run it in workers with pinned memory.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

from staticdyn.data.pairs import Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import READ_ERRORS, GroupItem, load_group

__all__ = ["READ_ERRORS", "GroupDataset", "GroupItem", "collate_groups", "load_group"]


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
