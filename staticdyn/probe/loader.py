"""Builds the model inputs of pair groups in DataLoader workers or in the main process.

The task (``staticdyn.data.tasks``) knows how one group is built; this module only wraps that
in a map-style dataset so torch's DataLoader can run it in workers, and decides how the loader
runs: how many workers (``probe.num_workers=auto``), prefetching and pinned memory on CUDA, and
whether frame-folder JPEGs are decoded on the GPU (``probe.gpu_decode``). None of these changes
a feature: groups are built from the pair seeds alone, in the same order, whichever process
builds them.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch

from staticdyn.data.pairs import Pair
from staticdyn.data.source import VideoSource
from staticdyn.data.spec import ClipSpec
from staticdyn.data.tasks.action import READ_ERRORS, GroupItem, load_group
from staticdyn.probe.allocator import release_in_forked_child

__all__ = ["READ_ERRORS", "GroupDataset", "GroupItem", "choose_num_workers", "collate_groups",
           "load_group", "loader_options", "visible_cores"]

log = logging.getLogger(__name__)

#: clips a loader may hold ahead of the forward (workers x prefetch x batch): about 2.4 GB at
#: 8 x 224 x 224 float32, so ``auto`` never trades the machine's memory for throughput
MAX_CLIPS_IN_FLIGHT = 512
#: fewer loader batches than this: a worker's start costs more than it saves (``auto`` -> 0)
MIN_BATCHES_FOR_WORKERS = 16
MAX_AUTO_WORKERS = 16
CUDA_PREFETCH = 4  # batches each worker keeps ready on CUDA (torch's default is 2)


def visible_cores() -> int:
    """Cores this process may run on (a job's CPU set, not the machine's core count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def choose_num_workers(value: int | str, batch_size: int, device_type: str, n_batches: int,
                       cores: int | None = None) -> int:
    """``probe.num_workers``: an int as given; ``auto`` from the visible cores and batch size.

    On CUDA the model runs on the GPU, so every core but the main process's decodes; on CPU the
    forward needs the cores, so half of them decode. Capped so that at most
    ``MAX_CLIPS_IN_FLIGHT`` clips wait in the loader (workers x prefetch x batch size) and at
    ``MAX_AUTO_WORKERS``; 0 for a run of fewer than ``MIN_BATCHES_FOR_WORKERS`` batches.
    """
    if value != "auto":
        n = int(value)
        if n < 0:
            raise ValueError(f"num_workers must be 'auto' or >= 0, got {value!r}")
        return n
    cores = visible_cores() if cores is None else cores
    if cores < 2 or n_batches < MIN_BATCHES_FOR_WORKERS:
        return 0
    spare = cores - 1 if device_type == "cuda" else cores // 2
    prefetch = CUDA_PREFETCH if device_type == "cuda" else 2
    by_memory = max(1, MAX_CLIPS_IN_FLIGHT // (max(1, batch_size) * prefetch))
    return max(0, min(spare, by_memory, MAX_AUTO_WORKERS))


def loader_options(num_workers: int, device_type: str, gpu_decode: bool = False
                   ) -> dict[str, Any]:
    """DataLoader keywords for ``num_workers`` workers feeding a ``device_type`` model.

    Workers prefetch deeper when CUDA is there to feed (on a CPU-only machine, or a CUDA device
    torch cannot see, the plain loader is used). Pinned memory is not asked of the loader: its
    items are groups, not tensors, so ``extract.forward_groups`` stacks a batch straight into
    page-locked memory instead. Workers that decode JPEGs on the GPU are spawned, not forked:
    CUDA cannot be initialised in a forked child.
    """
    cuda = device_type == "cuda" and torch.cuda.is_available()
    opts: dict[str, Any] = {"num_workers": num_workers}
    if num_workers > 0:
        opts["prefetch_factor"] = CUDA_PREFETCH if cuda else 2
        if cuda and gpu_decode:
            opts["multiprocessing_context"] = "spawn"
        opts["worker_init_fn"] = cpu_worker_init if not cuda else worker_init
    return opts


def worker_init(_worker_id: int) -> None:
    """A worker starts by handing back the parent's free heap it inherited (fork): else the
    parent's next forward copies those pages as it writes them
    (``allocator.release_in_forked_child``)."""
    release_in_forked_child()


def cpu_worker_init(worker_id: int) -> None:
    """``worker_init``, then the lowest priority, for a worker feeding a model on the CPU.

    The forward's intra-op threads use every core and meet at a barrier after each operator:
    a worker that takes a core from one of them stalls all of them, so its decoding costs the
    forward about twice its own CPU time. At the lowest priority it runs on the cycles the
    forward leaves idle (between operators and batches), and at full speed when the forward
    waits for data. Best effort: a platform without ``os.nice`` keeps the default priority.
    """
    worker_init(worker_id)
    try:
        os.nice(19)
    except (AttributeError, OSError):
        pass


class GroupDataset(torch.utils.data.Dataset):
    """Map-style dataset over pair groups, for torch's DataLoader (workers, pinned memory).

    ``load_fn(source, position, pairs, spec, probe_cfg)`` is the task's group builder. With
    ``probe_cfg["gpu_decode"]`` and a CUDA ``device``, a source that can (frame folders:
    ``use_gpu_decode``) decodes its JPEGs there; one that cannot is read as always (said once).
    """

    def __init__(self, source: VideoSource, groups: list[tuple[int, list[Pair]]], spec: ClipSpec,
                 load_fn: Callable[..., GroupItem], probe_cfg: Mapping[str, Any],
                 device: str | torch.device = "cpu"):
        self.source, self.groups, self.spec = source, groups, spec
        self.load_fn, self.probe_cfg = load_fn, dict(probe_cfg)
        if self.probe_cfg.get("gpu_decode"):
            configure = getattr(source, "use_gpu_decode", None)
            if configure is None:
                log.info("probe.gpu_decode: source '%s' has no JPEG frames to decode on the GPU;"
                         " decoding on the CPU", getattr(source, "name", type(source).__name__))
            else:
                configure(torch.device(device))

    def __len__(self) -> int:
        return len(self.groups)

    def __getitem__(self, i: int) -> GroupItem:
        position, pairs = self.groups[i]
        return self.load_fn(self.source, position, pairs, self.spec, self.probe_cfg)


def collate_groups(items: list[GroupItem]) -> list[GroupItem]:
    return items
