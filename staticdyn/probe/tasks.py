"""Task registry: how a task draws its pairs and builds the inputs of one pair group.

The extraction loop, store and metrics are the same for every task; only these two steps
differ (clips and time permutations for action recognition; a frame plus a flow image and flow
jitter for video object segmentation). A task module exposes

    sample(source, probe_cfg) -> list[Pair]
    load_group(source, position, pairs, spec, probe_cfg) -> GroupItem
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from staticdyn.data.pairs import Pair, sample_pairs
from staticdyn.data.source import VideoSource
from staticdyn.errors import UnknownChoiceError
from staticdyn.models.spec import ClipSpec
from staticdyn.probe.loader import GroupItem, load_group


@dataclass(frozen=True)
class Task:
    name: str
    sample: Callable[[VideoSource, Mapping[str, Any]], list[Pair]]
    load_group: Callable[[VideoSource, int, list[Pair], ClipSpec, Mapping[str, Any]], GroupItem]


def _action_sample(source: VideoSource, probe: Mapping[str, Any]) -> list[Pair]:
    return sample_pairs(source.videos, source.num_styles, int(probe["n_pairs"]),
                        int(probe["seed"]), str(probe.get("sampler", "shared")))


def _action_load(source: VideoSource, position: int, pairs: list[Pair], spec: ClipSpec,
                 probe: Mapping[str, Any]) -> GroupItem:
    return load_group(source, position, pairs, spec, str(probe.get("clip_start", "first")))


ACTION = Task("action", _action_sample, _action_load)
# Tasks living in their own module, imported only when used.
LAZY_TASKS: dict[str, str] = {"vos": "staticdyn.probe.vos"}


def get_task(name: str) -> Task:
    if name == "action":
        return ACTION
    if name in LAZY_TASKS:
        mod = importlib.import_module(LAZY_TASKS[name])
        return Task(name, mod.sample, mod.load_group)
    raise UnknownChoiceError("probe.task", name, ["action", *LAZY_TASKS])
