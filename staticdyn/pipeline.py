"""config -> pairs -> model -> hooks -> store -> metrics -> report, for one run.

``run(cfg)`` is what ``python run.py`` calls after Hydra composed the config. Order matters for
the user: every setting is checked first (``ProbeSettings``), then an existing features.h5 in
the run directory (lock, readable, same config), the dataset (a missing root is reported before
any model is built) and the pair list; only then is the model built and its layer names
checked, and only once all of that passed is anything written into the run directory. The
dataset is scanned before its pairs are drawn (``data.scan``): pairs come from readable videos
only, unreadable files are named in skipped.csv, and the scan's fingerprint and the pair list's
hash join the run's identity, so a resume never mixes two data sets. Features
already in the run's features.h5 are never recomputed.
"""

from __future__ import annotations

import csv
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from staticdyn.config import (
    MIN_PAIRS_PER_FACTOR,
    ProbeChoices,
    ProbeSettings,
    identity_of,
    resolved,
    run_dir_of,
)
from staticdyn.data.clips import SHORT_VIDEOS
from staticdyn.data.pairs import (
    DYNAMIC,
    SCHEMES,
    STATIC,
    Pair,
    group_pairs,
    replacement_pairs,
)
from staticdyn.data.scan import DataIndex, ReadableSubset, pairs_hash, scan_source, settings_key
from staticdyn.data.source import VideoSource
from staticdyn.data.tasks import TASK_MODULES, Task, get_task
from staticdyn.errors import DatasetError, InvalidSettingError, StaticDynError
from staticdyn.metrics.layerwise import ESTIMATORS
from staticdyn.models.spec import ZooModel
from staticdyn.probe.allocator import cpu_memory_line, keep_freed_memory
from staticdyn.probe.api import layer_io, show_layers

log = logging.getLogger("staticdyn")

SCAN_CACHE = "scan_index.json"  # in the run directory: see scan_data
DATA_KEYS = ("data.",)  # identity keys known only once the data is scanned and pairs drawn

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
          "float16": torch.float16}


def probe_choices() -> ProbeChoices:
    """The valid values of the probe's choice keys, read from the modules that implement them
    (a task's own sampler list, e.g. VOS's, is checked again when it draws its pairs)."""
    return ProbeChoices(tasks=tuple(TASK_MODULES), samplers=SCHEMES, estimators=ESTIMATORS,
                        dtypes=tuple(DTYPES), short_videos=SHORT_VIDEOS)


def check_config(cfg: DictConfig) -> ProbeSettings:
    """Every error a config alone can show, in one line, before anything is read or built:
    the probe settings, a ``???`` left in the model or dataset (``dataset.root``), the device."""
    settings = ProbeSettings.from_cfg(cfg.probe, probe_choices())
    for group in ("model", "dataset"):
        resolved(cfg.get(group), group)
    device_of(settings)
    return settings


VIS_TASK = "vis"  # probe=vis pairs only VIS models (card ``task: vis``) and vice versa


def vis_models() -> list[str]:
    """Zoo entries whose card says ``task: vis`` (read unresolved: no interpolation runs)."""
    from staticdyn.models.zoo import conf_dir

    found = []
    for path in sorted((conf_dir() / "model").glob("*.yaml")):
        card = OmegaConf.load(path)
        if isinstance(card, DictConfig) and card.get("task") == VIS_TASK:
            found.append(path.stem)
    return found


def check_model_task(cfg: DictConfig, settings: ProbeSettings) -> None:
    """probe=vis takes a video instance segmentation model (card ``task: vis``) and such a
    model takes probe=vis only: one line naming the valid choices, before any work."""
    model = cfg.get("model")
    model_task = model.get("task") if isinstance(model, DictConfig) else None
    if (model_task == VIS_TASK) == (settings.task == VIS_TASK):
        return
    name = model.get("name", "custom") if isinstance(model, DictConfig) else "custom"
    if model_task == VIS_TASK:
        raise StaticDynError(f"model '{name}' is a video instance segmentation model (card task: "
                             f"vis): it takes probe=vis, not probe={settings.task}. Valid "
                             f"choices: probe=vis")
    raise StaticDynError(f"probe=vis needs a video instance segmentation model (card task: vis); "
                         f"model '{name}' has task {model_task}. Valid choices: "
                         + ", ".join(f"model={m}" for m in vis_models()))


def matched_queries(model: ZooModel, layers: dict[str, str], settings: ProbeSettings
                    ) -> dict[str, str] | None:
    """probe.vis_pooling=matched: the requested query layers (alias -> the card's ``queries``
    kind, looked up by alias or module path); None otherwise. A model that declares no query
    layer among them is refused in one line."""
    if settings.vis_pooling != "matched":
        return None
    queries = {alias: kind for alias, path in layers.items()
               if (kind := model.io.queries.get(alias, model.io.queries.get(path)))}
    if not queries:
        raise StaticDynError(f"probe.vis_pooling=matched: none of the layers {list(layers)} of "
                             f"model '{model.name}' is a query layer (card queries:). Valid "
                             f"choices: {', '.join(model.io.queries) or 'none'}; or "
                             "probe.vis_pooling=mean")
    return queries


def device_of(settings: ProbeSettings) -> torch.device:
    try:
        device = torch.device(settings.device)
    except RuntimeError:
        raise InvalidSettingError("probe.device", settings.device,
                                  "cpu, cuda or cuda:N (a torch device)") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise StaticDynError("probe.device=cuda but no CUDA device is visible. Valid: cpu")
    return device


def seed_config(cfg: DictConfig, seed: int, out: Path) -> DictConfig:
    """The config of one run of ``probe.seeds``: that seed, in ``<out>/seed<k>``."""
    sub = cfg.copy()
    with open_dict(sub):
        sub.probe.seed = seed
        sub.probe.seeds = None
        sub.out_dir = str(out / f"seed{seed}")
    return sub


def check_stores(cfg: DictConfig, settings: ProbeSettings) -> None:
    """Refuse now, writing nothing, what opening the run's features.h5 would refuse (another
    config, lock held, unreadable file); with ``probe.seeds`` every seed's."""
    from staticdyn.store.h5 import FeatureStore

    out = run_dir_of(cfg)
    if settings.seeds:
        for seed in settings.seeds:
            sub = seed_config(cfg, seed, out)
            FeatureStore.check(Path(sub.out_dir) / "features.h5", identity_of(sub),
                               deferred=DATA_KEYS)
    else:
        FeatureStore.check(out / "features.h5", identity_of(cfg), deferred=DATA_KEYS)


def scan_data(cfg: DictConfig, source: VideoSource, settings: ProbeSettings
              ) -> DataIndex | None:
    """The data set's index (``data.scan``) for a clip task (action, vis), before any pair
    is drawn.

    The cache lives in the run directory (``scan_index.json``), written only once the run is
    accepted: the run directory is always writable and belongs to the run, while a data folder
    may be read-only or shared, and a file written into it would show up to other tools. A
    resumed run, where a second scan matters most, finds it there.
    """
    if not get_task(settings.task).clip_task:
        return None
    dataset = {k: v for k, v in identity_of(cfg).items() if k.startswith("dataset.")}
    return scan_source(source, cache=run_dir_of(cfg) / SCAN_CACHE,
                       settings=settings_key(dataset), progress=settings.progress)


def data_identity(index: DataIndex | None, pairs: list[Pair]) -> dict[str, str]:
    """The scan's fingerprint and the pair list's hash: identity keys, so a resume continues
    the same pairs on the same data or is refused saying what changed."""
    if index is None:
        return {}
    rows = ((p.index, p.group, p.factor, p.video, p.style_a, p.style_b, p.seed) for p in pairs)
    return {"data.index": index.fingerprint(), "data.pairs": f"{len(pairs)} pairs; sha1 "
            f"{pairs_hash(rows)}"}


def build_source(cfg: DictConfig) -> VideoSource:
    from hydra.utils import instantiate

    try:
        source = instantiate(cfg.dataset, _convert_="all")
    except Exception as exc:  # Hydra wraps constructor errors; surface ours unchanged
        cause = exc
        while cause.__cause__ is not None and not isinstance(cause, StaticDynError):
            cause = cause.__cause__
        if isinstance(cause, StaticDynError):
            raise cause from None
        raise
    if not isinstance(source, VideoSource):
        raise DatasetError(f"dataset '{cfg.dataset.get('name')}' did not build a VideoSource")
    if not source.videos:
        raise DatasetError(f"dataset '{cfg.dataset.get('name')}' has no videos")
    return source


def build_model(cfg: DictConfig) -> ZooModel:
    from staticdyn.models.zoo import from_config

    return from_config(cfg.model)


def select_shard(
    groups: list, shard: int, num_shards: int, per_batch: int = 1
) -> tuple[list, int]:
    """Contiguous slice of the group list for shard ``shard`` (and its first group position).

    Shard boundaries fall on batch boundaries, so a shard forms the same forward batches as
    the unsharded run and merged shards equal it exactly.
    """
    if not 0 <= shard < num_shards:
        raise StaticDynError(f"probe.shard={shard} is outside 0..{num_shards - 1}")
    n_batches = -(-len(groups) // per_batch)
    lo = min(len(groups), n_batches * shard // num_shards * per_batch)
    hi = min(len(groups), n_batches * (shard + 1) // num_shards * per_batch)
    return groups[lo:hi], lo


def scan_skips(index: DataIndex | None, source: VideoSource) -> list[tuple[int, str, str]]:
    """skipped.csv rows of the files the scan found unreadable: (-1, path, "style: reason")."""
    if index is None:
        return []
    return [(-1, path, f"{style}: {reason}")
            for path, style, reason in index.unreadable(source.style_names)]


def write_skipped_csv(path: Path, skipped: list[tuple[int, str, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "reason"])
        for _, item, reason in skipped:
            w.writerow([item, reason])


def run_seeds(cfg: DictConfig, model: ZooModel | None = None) -> dict[str, Any]:
    """``probe.seeds=[1,2,3,4]``: one run per seed in ``seed<k>/``, then the papers' summary.

    Written beside them: ``seeds_layerwise.csv`` / ``seeds_unitwise.csv`` with, per layer, the
    mean over seeds and the half-width 1.96 * std / sqrt(n) (METHOD.md section 1, segmentation).
    """
    import pandas as pd

    from staticdyn.report.seeds import seed_summary

    out = run_dir_of(cfg)
    seeds = [int(s) for s in cfg.probe.seeds]
    results = {}
    for s in seeds:
        sub = cfg.copy()
        with open_dict(sub):
            sub.probe.seed = s
            sub.probe.seeds = None
            sub.out_dir = str(out / f"seed{s}")
        results[s] = run(sub, model=model)
    files = {}
    for name, cols in (("layerwise", ["dynamic_pct", "static_pct", "residual_pct",
                                      "score_dynamic", "score_static"]),
                       ("unitwise", ["dynamic", "static", "joint", "residual", "dead"])):
        df = pd.concat([getattr(r["tables"], name).assign(seed=s) for s, r in results.items()])
        summary = seed_summary(df, cols, keys=("model", "dataset", "layer"), index_col=None,
                               half_width=True)
        path = out / f"seeds_{name}.csv"
        summary.to_csv(path, index=False)
        files[name] = path
        print(f"wrote {path}")
    return {"run_dir": out, "seeds": results, "files": files}


def list_layers(model: ZooModel) -> dict[str, Any]:
    """Every alias with its module path, output shape on a dry run, layout and channel count,
    then the raw module paths (any of which ``probe.layers`` also accepts)."""
    table = show_layers(model)
    print(f"aliases of model '{model.name}':\n{table}\nmodule paths:\n  "
          + "\n  ".join(model.module_paths()))
    return {"listed": True}


def plan_pairs(source: VideoSource, settings: ProbeSettings, index: DataIndex | None = None
               ) -> tuple[Task, list[Pair], list[list[Pair]], int]:
    """The run's pairs and this shard's groups, refused when a factor or the shard would be
    too small to measure (pairs are metadata: nothing is decoded yet).

    With a scan ``index``, pairs are drawn from the readable videos only, so the run delivers
    ``probe.n_pairs`` pairs whatever the unreadable files (with every video readable, the
    list is the one drawn without a scan)."""
    from staticdyn.probe.extract import groups_per_batch

    task = get_task(settings.task)
    if index is not None and not index.generated:
        readable = index.readable_videos()
        if not readable:
            first = "; ".join(f"{p}: {r}" for p, _, r in index.unreadable(source.style_names)[:3])
            raise DatasetError(f"no video of dataset '{source.name}' is readable ({first})")
        if len(readable) < len(source.videos):
            source = ReadableSubset(source, readable)
    pairs = task.sample(source, settings.task_values)
    counts = {f: sum(p.factor == f for p in pairs) for f in (DYNAMIC, STATIC)}
    if min(counts.values()) < MIN_PAIRS_PER_FACTOR:
        raise InvalidSettingError(
            "probe.n_pairs", settings.n_pairs,
            f"a count that gives at least {MIN_PAIRS_PER_FACTOR} pairs of each factor; this "
            f"one gives {counts[DYNAMIC]} dynamic and {counts[STATIC]} static "
            f"({len(source.videos)} videos, probe.sampler={settings.sampler}, "
            f"probe.seed={settings.seed})")
    all_groups = group_pairs(pairs)
    per_batch = groups_per_batch(settings.batch_size, all_groups)
    groups, first = select_shard(all_groups, settings.shard, settings.num_shards, per_batch)
    if not groups:
        n_batches = -(-len(all_groups) // per_batch)
        raise InvalidSettingError(
            "probe.num_shards", settings.num_shards,
            f"at most {n_batches}: this run has {n_batches} batches, so shard "
            f"{settings.shard} would be empty")
    return task, pairs, groups, first


def replace_skipped(extract: Callable[[list[list[Pair]]], Any], store: Any,
                    groups: list[list[Pair]], stats: Any, source: VideoSource,
                    index: DataIndex, settings: ProbeSettings,
                    run_pairs: list[Pair] | None = None, first: int = 0) -> Any:
    """Replace the pairs of groups that could not be read during the run (a file that went
    bad after the scan), so the run still delivers its pair count.

    Each round draws, for the pairs of the groups skipped in the previous round, new pairs
    over the readable videos not used yet (``pairs.replacement_pairs``). Which groups were
    skipped is stored in features.h5, so the rounds, and the replacements, are the same on a
    resumed run and for the same seed. Stops when nothing is missing or no video is left
    (said once). Returns the summed extraction stats.

    A shard (``groups`` starting at group ``first`` of the run's pairs ``run_pairs``) draws
    from its own share of the videos no pair of the run uses (every ``num_shards``-th, from
    its shard number) and numbers its replacements in a block of its own after the run's
    pairs, so shards never collide and their merged file holds every pair once. Unsharded,
    this is the whole list of unused videos and the numbering right after the run's pairs.
    """
    readable = index.readable_videos() if not index.generated else list(source.videos)
    groups = list(groups)
    planned_pairs, planned_groups = sum(len(g) for g in groups), len(groups)
    run_pairs = run_pairs if run_pairs is not None else [p for g in groups for p in g]
    run_groups = len({p.group for p in run_pairs})
    unused = [v for v in readable if v not in {p.video for p in run_pairs}]
    share = unused[settings.shard::settings.num_shards]
    # block of numbers per shard: its replacements never exceed two pairs per unused video
    base_pairs = len(run_pairs) + settings.shard * (len(run_pairs) + 2 * len(unused))
    base_groups = run_groups + settings.shard * (run_groups + len(unused))
    lo = 0
    while True:
        skipped = {g - first for g, _, _ in store.skipped()}
        missing = sum(len(groups[g]) for g in skipped if lo <= g < len(groups))
        if not missing:
            return stats
        used = {p.video for grp in groups for p in grp}
        left = [v for v in share if v not in used]
        if not left:
            log.warning("%d pairs of unreadable groups could not be replaced: every readable "
                        "video is already used", missing)
            return stats
        new = group_pairs(replacement_pairs(
            left, source.num_styles, missing, settings.seed, settings.sampler,
            base_pairs + sum(len(grp) for grp in groups) - planned_pairs,
            base_groups + len(groups) - planned_groups))
        log.info("replacing %d pairs of unreadable groups with %d new groups", missing,
                 len(new))
        lo = len(groups)
        groups += new
        more = extract(groups)
        for k in ("pairs", "forwards", "skipped", "cycled", "seconds", "forward_seconds",
                  "wait_seconds"):
            setattr(stats, k, getattr(stats, k) + getattr(more, k))


def run(cfg: DictConfig, accept: Callable[[], None] | None = None,
        model: ZooModel | None = None) -> dict[str, Any]:
    """Run one probe job; returns paths and counts (also used by tests and sweeps).

    ``accept`` is called once every check passed, right before the first write into the run
    directory: ``run.py`` saves Hydra's ``.hydra/`` files and the job log there, so a refused
    run leaves the directory as it found it. ``model``: a model built outside the config (the
    Python API's ``staticdyn.probe`` on a user's own module), used instead of building
    ``cfg.model``, which then only describes it.
    """
    prebuilt = model
    settings = check_config(cfg)
    check_model_task(cfg, settings)  # probe=vis <-> a VIS model, before any work
    check_stores(cfg, settings)
    if settings.seeds:
        source = build_source(cfg)
        index = scan_data(cfg, source, settings)
        for seed in settings.seeds:  # every seed's pairs, before the first seed's model
            plan_pairs(source, settings.for_seed(seed), index)
        if accept is not None:
            accept()
        return run_seeds(cfg, model=prebuilt)
    from staticdyn.metrics.analyze import analyze_with_intervals
    from staticdyn.probe.extract import ExtractionStats, run_extraction
    from staticdyn.report.run_report import format_terminal_summary, write_run_report
    from staticdyn.store.h5 import FeatureStore

    out = run_dir_of(cfg)
    torch.manual_seed(settings.seed)
    allocator = keep_freed_memory(settings.warm_allocator)  # before the model's first forward
    if torch.device(settings.device).type == "cpu":
        log.info("%s", cpu_memory_line(allocator))
    if settings.threads:
        torch.set_num_threads(settings.threads)

    source = build_source(cfg)  # fails on a missing root before any model is built
    if settings.list_layers:
        return list_layers(prebuilt if prebuilt is not None else build_model(cfg))
    index = scan_data(cfg, source, settings)
    task, pairs, groups, first = plan_pairs(source, settings, index)
    identity = {**identity_of(cfg), **data_identity(index, pairs)}
    h5_path = out / "features.h5"
    FeatureStore.check(h5_path, identity)  # a changed data set or pair list: refused now
    model = prebuilt if prebuilt is not None else build_model(cfg)
    layers = model.resolve_layers(list(settings.layers) if settings.layers else None)
    # every layer's tensor layout, declared or verified on a dry run, before any data is read
    io = layer_io(model, layers)
    matched = matched_queries(model, layers, settings)
    device, dtype = device_of(settings), DTYPES[settings.dtype]
    behaviour = None
    if settings.behaviour:  # no head or no labels: one line now, before any work
        from staticdyn.probe.behaviour import plan_for_run

        behaviour = plan_for_run(model, source, groups)
    if accept is not None:
        accept()
    out.mkdir(parents=True, exist_ok=True)
    if index is not None and not index.generated:
        from staticdyn.data.scan import save_cache

        save_cache(out / SCAN_CACHE, index, settings_key(
            {k: v for k, v in identity.items() if k.startswith("dataset.")}))
    unreadable = scan_skips(index, source)
    for _, path, reason in unreadable:  # named before the first forward
        log.warning("unreadable, not drawn: %s (%s)", path, reason)
    if model.untrained:
        log.warning("=" * 72)
        log.warning("MODEL '%s' IS UNTRAINED (random init): results describe the architecture, "
                    "not a trained network. Pass model.checkpoint=/path to probe real weights.",
                    model.name)
        log.warning("=" * 72)
    model.module.to(device=device, dtype=dtype)

    if len(pairs) < settings.n_pairs and task.clip_task:
        n_readable = len(index.readable_videos()) if index is not None else len(source.videos)
        log.warning("dataset has %d readable videos: %d pairs instead of %d", n_readable,
                    len(pairs), settings.n_pairs)
    attrs = {
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "model": model.name,
        "dataset": str(cfg.dataset.get("name", source.name)),
        "sampler": settings.sampler,
        "untrained": bool(model.untrained),
        "checkpoint": str(model.checkpoint or ""),
        "shard": settings.shard,
        "num_shards": settings.num_shards,
        "first_group": first,
        "n_pairs_total": len(pairs),
        "shard_groups": len(groups),  # planned: replacements may add groups after them
    }
    with FeatureStore(h5_path, attrs, identity) as store:
        if store.complete:
            log.info("features already complete in %s: reusing them", h5_path)
            stats = None
        else:
            if store.n_groups:
                log.info("resuming %s at group %d (%d rows)", h5_path, store.n_groups,
                         store.n_rows)
            def extract(todo: list[list[Pair]]) -> ExtractionStats:
                return run_extraction(
                    model, source, todo, store, layers, first_position=first,
                    batch_size=settings.batch_size, num_workers=settings.num_workers,
                    device=device, amp=settings.amp, dtype=dtype,
                    load_fn=task.load_group, probe_cfg=settings.task_values,
                    progress=settings.progress, io=io, matched=matched,
                )

            stats = extract(groups)
            if index is not None:
                stats = replace_skipped(extract, store, groups, stats, source, index, settings,
                                        pairs, first)
        skipped = store.skipped()
        n_rows = store.n_rows
        forwards = int(store.f.attrs["forwards"])
        cycled = int(store.f.attrs.get("cycled_groups", 0))
        if n_rows == 0:
            reasons = "; ".join(f"{i}: {r}" for _, i, r in skipped[:3])
            raise DatasetError(f"every item was skipped ({len(skipped)} groups). First causes: "
                               f"{reasons or 'none recorded'}")
        store.finish(forwards_per_pair=forwards / max(n_rows, 1))
    write_skipped_csv(out / "skipped.csv", unreadable + skipped)
    if stats is not None:
        log.info("extracted %d pairs with %d forwards (%.2f per pair) in %.1f s",
                 stats.pairs, stats.forwards, stats.forwards_per_pair, stats.seconds)
    log.info("forwards per pair over the whole file: %.3f", forwards / max(n_rows, 1))
    if unreadable or skipped:  # the one count: rows of skipped.csv
        log.warning("%d items skipped: %d unreadable files found by the scan, %d groups during "
                    "extraction (see %s)", len(unreadable) + len(skipped), len(unreadable),
                    len(skipped), out / "skipped.csv")
    if cycled:
        log.info("%d groups read a video shorter than the %d-frame window: cycled "
                 "(METHOD.md section 1; probe.short_videos)", cycled,
                 model.clip_spec.n_sample_frames)

    tables = analyze_with_intervals(h5_path, lam=settings.lam, estimator=settings.estimator,
                                    n_boot=settings.bootstrap, seed=settings.seed)
    files = write_run_report(tables, out)
    print(format_terminal_summary(tables))
    if behaviour is not None:
        from staticdyn.probe.behaviour import behaviour_for_run

        files["behaviour"] = behaviour_for_run(model, source, behaviour, settings, out, device,
                                               dtype, str(attrs["dataset"]))
    print(f"\nwrote {h5_path}")
    for name, path in files.items():
        print(f"wrote {path}" if name else path)
    sys.stdout.flush()
    return {"run_dir": out, "features": h5_path, "files": files, "tables": tables,
            "stats": stats, "skipped": len(skipped), "forwards": forwards, "rows": n_rows,
            "unreadable": len(unreadable), "cycled": cycled}
