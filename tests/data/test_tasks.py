"""data.tasks: the registry finds each task's pair builder, says the choices for an unknown one,
imports a task only when asked, and a task's group builder turns read errors into skips."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys

import pytest
import torch

from staticdyn.data.pairs import DYNAMIC, STATIC, group_pairs
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks import READ_ERRORS, TASK_MODULES, GroupItem, Task, get_task
from staticdyn.errors import UnknownChoiceError, VideoReadError
from tests.helpers.fakes import FakeSource

SPEC = ClipSpec(frames=4, sampling_rate=1, crop=32, short_side=32, n_sample_frames=8)


@pytest.mark.parametrize("name", sorted(TASK_MODULES))
def test_each_task_module_registers_its_task(name: str) -> None:
    task = get_task(name)
    assert isinstance(task, Task) and task.name == name
    assert importlib.import_module(TASK_MODULES[name]).TASK is task
    assert callable(task.sample) and callable(task.load_group)


def test_unknown_task_names_the_key_and_lists_the_choices() -> None:
    with pytest.raises(UnknownChoiceError) as info:
        get_task("segmentation")
    message = str(info.value)
    assert "probe.task" in message and "'segmentation'" in message
    assert all(name in message for name in TASK_MODULES)
    assert "\n" not in message


def test_a_task_module_is_imported_only_when_asked_for() -> None:
    code = ("import sys; from staticdyn.data.tasks import get_task; get_task('action'); "
            "print(sorted(m for m in sys.modules if m.startswith('staticdyn.data.tasks.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert ast.literal_eval(out) == ["staticdyn.data.tasks.action", "staticdyn.data.tasks.base"]


def test_read_errors_are_the_skippable_ones() -> None:
    assert VideoReadError in READ_ERRORS and OSError in READ_ERRORS
    assert not any(issubclass(RuntimeError, e) for e in READ_ERRORS)  # bugs still surface


def test_group_items_do_not_share_lists() -> None:
    a, b = GroupItem(0, []), GroupItem(1, [])
    a.clips.append([torch.zeros(1)])
    a.rows.append((0, 1))
    assert b.clips == [] and b.rows == []


def test_action_task_builds_groups_through_the_registry() -> None:
    task = get_task("action")
    source = FakeSource(n_videos=4, num_frames=10, size=36)
    pairs = task.sample(source, {"n_pairs": 4, "seed": 0, "sampler": "shared"})
    groups = group_pairs(pairs)
    assert [[p.factor for p in g] for g in groups] == [[DYNAMIC, STATIC]] * 2
    item = task.load_group(source, 0, groups[0], SPEC, {"clip_start": "first"})
    assert item.skip_reason is None and item.rows == [(0, 1), (0, 2)]
    assert len(item.clips) == 3 and item.clips[0][0].shape == (3, 4, 32, 32)


def test_a_read_error_becomes_a_skip_not_a_crash() -> None:
    task = get_task("action")
    source = FakeSource(n_videos=4, num_frames=10, size=36)
    pairs = task.sample(source, {"n_pairs": 4, "seed": 0, "sampler": "shared"})
    first = group_pairs(pairs)[0]
    broken = FakeSource(n_videos=4, num_frames=10, size=36, bad=[first[0].video])
    item = task.load_group(broken, 0, first, SPEC, {"clip_start": "first"})
    assert item.clips == [] and item.rows == []
    assert item.skip_item.startswith(first[0].video + "@")
    assert item.skip_reason.startswith("VideoReadError:") and "planted" in item.skip_reason
