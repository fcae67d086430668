"""The extraction loop: pair groups in, pooled features of every layer out, in one pass.

Each batch stacks the clips of whole groups, runs one forward with hooks on every requested
layer, and appends the rows (in pair order) to the store before the next batch. Work already in
the store is never redone: the loop starts at the store's committed group count.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from staticdyn.data.pairs import Pair
from staticdyn.data.source import VideoSource
from staticdyn.models.spec import ZooModel
from staticdyn.probe.hooks import extract_pooled
from staticdyn.probe.layouts import LayerIO
from staticdyn.probe.loader import (
    GroupDataset,
    GroupItem,
    choose_num_workers,
    collate_groups,
    loader_options,
)
from staticdyn.store.h5 import FeatureStore

log = logging.getLogger(__name__)


@dataclass
class ExtractionStats:
    pairs: int = 0
    forwards: int = 0
    skipped: int = 0
    cycled: int = 0  # groups whose video is shorter than the clip window (cycled)
    seconds: float = 0.0
    forward_seconds: float = 0.0
    wait_seconds: float = 0.0  # blocked on the data loader
    workers: int = 0  # DataLoader workers used (probe.num_workers, ``auto`` resolved)

    @property
    def data_wait_fraction(self) -> float:
        return self.wait_seconds / self.seconds if self.seconds else float("nan")

    @property
    def forwards_per_pair(self) -> float:
        return self.forwards / self.pairs if self.pairs else float("nan")


def _autocast(device: torch.device, amp: str | bool | None) -> contextlib.AbstractContextManager:
    if not amp or amp in ("false", "none", "off"):
        return contextlib.nullcontext()
    dtype = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
             "float16": torch.float16, True: torch.bfloat16}.get(amp)
    if dtype is None:
        raise ValueError(f"unknown probe.amp '{amp}'. Valid choices: false, bf16, fp16")
    return torch.autocast(device_type=device.type, dtype=dtype)


def _batches(items: list[GroupItem], max_clips: int) -> Iterator[list[GroupItem]]:
    """Split loaded groups into forward batches of at most max_clips clips (whole groups)."""
    cur: list[GroupItem] = []
    n = 0
    for it in items:
        if cur and n + len(it.clips) > max_clips:
            yield cur
            cur, n = [], 0
        cur.append(it)
        n += len(it.clips)
    if cur:
        yield cur


def forward_groups(
    model: ZooModel, items: list[GroupItem], layers: Mapping[str, str], device: torch.device,
    amp: str | bool | None = None, dtype: torch.dtype = torch.float32,
    io: Mapping[str, LayerIO] | None = None,
    matched: Mapping[str, str] | None = None,
) -> dict[str, np.ndarray]:
    """Pooled features (n_clips, C) per layer for the clips of ``items``, one forward pass.

    ``matched`` (VIS, ``probe.vis_pooling=matched``): query layer alias -> query kind; those
    layers are pooled over the slots matched to each clip's masks (``probe.matched``).
    """
    n_path = len(items[0].clips[0])
    inputs = [
        _stack_for(device, [clip[p] for it in items for clip in it.clips]).to(
            device, dtype, non_blocking=True)
        for p in range(n_path)
    ]
    with _autocast(device, amp):
        if matched:
            from staticdyn.probe.matched import extract_matched

            masks = [m.to(device) for it in items for m in getattr(it, "masks", [])]
            pooled = extract_matched(model.module, inputs[0], layers, io or {}, matched, masks)
        else:
            pooled = extract_pooled(model.module, inputs if n_path > 1 else inputs[0], layers,
                                    io=io)
    return {k: v.float().cpu().numpy() for k, v in pooled.items()}


def _stack_for(device: torch.device, parts: list[torch.Tensor]) -> torch.Tensor:
    """``torch.stack(parts)``; into page-locked memory when it goes to a CUDA device, so the
    copy there is asynchronous (``non_blocking``) and overlaps the previous forward."""
    if device.type != "cuda" or not torch.cuda.is_available():
        return torch.stack(parts)
    out = torch.empty((len(parts), *parts[0].shape), dtype=parts[0].dtype, pin_memory=True)
    return torch.stack(parts, out=out)


def groups_per_batch(batch_size: int, groups: list[list[Pair]]) -> int:
    """Whole groups per loader batch, so one forward sees about ``batch_size`` clips."""
    clips_per_group = 1 + max((len(g) for g in groups[:1]), default=1)
    return max(1, batch_size // clips_per_group)


def aligned_batches(positions: list[int], per_batch: int) -> list[list[int]]:
    """Dataset indices grouped by global batch (position // per_batch).

    Batches are aligned to the global group list, not to where this call starts: a resumed run
    or a shard starting on a batch boundary forms exactly the batches of an uninterrupted
    unsharded run, so its features are identical to the last bit, not just close.
    """
    out: list[list[int]] = []
    last = None
    for i, pos in enumerate(positions):
        key = pos // per_batch
        if key != last:
            out.append([])
            last = key
        out[-1].append(i)
    return out


def run_extraction(
    model: ZooModel,
    source: VideoSource,
    groups: list[list[Pair]],
    store: FeatureStore,
    layers: Mapping[str, str],
    *,
    first_position: int = 0,
    batch_size: int = 8,
    num_workers: int | str = 0,
    device: str | torch.device = "cpu",
    amp: str | bool | None = None,
    dtype: torch.dtype = torch.float32,
    load_fn: Callable[..., GroupItem] | None = None,
    probe_cfg: Mapping[str, Any] | None = None,
    progress: bool = True,
    io: Mapping[str, LayerIO] | None = None,
    matched: Mapping[str, str] | None = None,
) -> ExtractionStats:
    """Extract every group not yet in ``store``; returns what this call did.

    ``groups`` is this job's slice of the run's group list, starting at global position
    ``first_position``. ``load_fn`` builds one group's inputs (the task's loader; action
    recognition by default).
    """
    device = torch.device(device)
    stats = ExtractionStats()
    done = store.n_groups
    todo = [(first_position + i, g) for i, g in enumerate(groups) if i >= done]
    if not todo:
        return stats
    store.set_layers(layers)
    per_batch = groups_per_batch(batch_size, groups)
    if load_fn is None:
        from staticdyn.data.tasks.action import TASK as ACTION

        load_fn = ACTION.load_group
    dataset = GroupDataset(source, todo, model.clip_spec, load_fn, probe_cfg or {}, device)
    batch_sampler = aligned_batches([p for p, _ in todo], per_batch)
    stats.workers = choose_num_workers(num_workers, batch_size, device.type, len(batch_sampler))
    if num_workers == "auto":
        log.info("probe.num_workers=auto: %d loader workers", stats.workers)
    loader = torch.utils.data.DataLoader(
        dataset, batch_sampler=batch_sampler, collate_fn=collate_groups,
        **loader_options(stats.workers, device.type, bool((probe_cfg or {}).get("gpu_decode"))),
    )
    total_pairs = sum(len(g) for g in groups)
    bar = tqdm(total=total_pairs, initial=sum(len(g) for g in groups[:done]), unit="pair",
               disable=not progress, dynamic_ncols=True, desc=f"probe {model.name}")
    t0 = time.perf_counter()
    tw = t0
    for items in loader:
        stats.wait_seconds += time.perf_counter() - tw
        skipped = [(it.position, it.skip_item, it.skip_reason) for it in items if it.skip_reason]
        for s in skipped:
            log.warning("skipped %s: %s", s[1], s[2])
        good = [it for it in items if not it.skip_reason]
        rows: dict[str, list] = {k: [] for k in ("index", "group", "factor", "video", "style_a",
                                                  "style_b", "seed", "start")}
        feats: dict[str, tuple[list, list]] = {k: ([], []) for k in layers}
        n_fwd = 0
        for batch in _batches(good, max(batch_size, 1)):
            tf = time.perf_counter()
            out = forward_groups(model, batch, layers, device, amp, dtype, io, matched)
            stats.forward_seconds += time.perf_counter() - tf
            offset = 0
            for it in batch:
                for p, (ia, ib) in zip(it.pairs, it.rows, strict=True):
                    for k in layers:
                        feats[k][0].append(out[k][offset + ia])
                        feats[k][1].append(out[k][offset + ib])
                    rows["index"].append(p.index)
                    rows["group"].append(p.group)
                    rows["factor"].append(p.factor)
                    rows["video"].append(p.video)
                    rows["style_a"].append(source.style_names[p.style_a])
                    rows["style_b"].append(source.style_names[p.style_b])
                    rows["seed"].append(np.uint64(p.seed))
                    rows["start"].append(it.start)
                offset += len(it.clips)
                n_fwd += len(it.clips)
        arrays = {k: (np.stack(a), np.stack(b)) for k, (a, b) in feats.items() if a}
        last = max(it.position for it in items) - first_position
        cycled = sum(it.cycled for it in good)
        store.append(rows, arrays, groups_done=last + 1, skipped=skipped, forwards=n_fwd,
                     cycled=cycled)
        stats.cycled += cycled
        n_pairs = len(rows["index"])
        stats.pairs += n_pairs
        stats.forwards += n_fwd
        stats.skipped += sum(len(it.pairs) for it in items if it.skip_reason)
        bar.update(sum(len(it.pairs) for it in items))
        tw = time.perf_counter()
    bar.close()
    stats.seconds = time.perf_counter() - t0
    return stats
