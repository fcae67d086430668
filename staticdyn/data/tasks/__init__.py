"""Task registry: each task's pair builder lives in its own module of this package.

A task module defines ``TASK`` (``staticdyn.data.tasks.base.Task``): how the task draws its
pairs and builds the inputs of one pair group. Modules are imported only when used, so a run
of one task never imports another task's dependencies.
"""

from __future__ import annotations

import importlib

from staticdyn.data.tasks.base import READ_ERRORS, GroupItem, Task
from staticdyn.errors import UnknownChoiceError

__all__ = ["READ_ERRORS", "TASK_MODULES", "GroupItem", "Task", "get_task"]

TASK_MODULES: dict[str, str] = {
    "action": "staticdyn.data.tasks.action",
    "vos": "staticdyn.data.tasks.vos",
    "vis": "staticdyn.data.tasks.vis",
}


def get_task(name: str) -> Task:
    if name not in TASK_MODULES:
        raise UnknownChoiceError("probe.task", name, TASK_MODULES)
    return importlib.import_module(TASK_MODULES[name]).TASK
