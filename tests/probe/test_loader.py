"""probe.loader: pair groups built by the task in DataLoader workers, exactly as in-process."""

from __future__ import annotations

import torch

from staticdyn.data.pairs import group_pairs
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks import get_task
from staticdyn.probe.loader import GroupDataset, GroupItem, collate_groups
from tests.helpers.fakes import FakeSource

SPEC = ClipSpec(frames=4, sampling_rate=1, crop=32, short_side=32, n_sample_frames=8)
PROBE = {"n_pairs": 6, "seed": 0, "sampler": "shared", "clip_start": "random"}


def _dataset() -> GroupDataset:
    source = FakeSource(n_videos=6, num_frames=10, size=36)
    task = get_task("action")
    groups = list(enumerate(group_pairs(task.sample(source, PROBE))))
    return GroupDataset(source, groups, SPEC, task.load_group, PROBE)


def test_items_are_the_task_groups_in_order() -> None:
    ds = _dataset()
    assert len(ds) == 3
    items = [ds[i] for i in range(len(ds))]
    assert [it.position for it in items] == [0, 1, 2]
    assert all(isinstance(it, GroupItem) and it.skip_reason is None for it in items)


def test_workers_build_the_same_clips_as_the_main_process() -> None:
    ds = _dataset()
    local = [ds[i] for i in range(len(ds))]
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=1,
                                         collate_fn=collate_groups)
    batches = list(loader)
    assert [len(b) for b in batches] == [2, 1]  # collate keeps whole groups, unstacked
    remote = [item for batch in batches for item in batch]
    for a, b in zip(local, remote, strict=True):
        assert (a.position, a.rows, a.start) == (b.position, b.rows, b.start)
        for ca, cb in zip(a.clips, b.clips, strict=True):
            assert all(torch.equal(x, y) for x, y in zip(ca, cb, strict=True))


def test_the_probe_settings_are_copied_at_construction() -> None:
    probe = dict(PROBE)
    seen: list[dict] = []
    ds = GroupDataset(FakeSource(), [(0, [])], SPEC,
                      lambda *args: seen.append(args[-1]) or GroupItem(0, []), probe)
    probe["clip_start"] = "changed later"
    ds[0]
    assert seen[0]["clip_start"] == "random"


def test_collate_keeps_the_list() -> None:
    items = [GroupItem(0, []), GroupItem(1, [])]
    assert collate_groups(items) is items
