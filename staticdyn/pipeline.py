"""config -> pairs -> model -> hooks -> store -> metrics -> report, for one run.

``run(cfg)`` is what ``python run.py`` calls after Hydra composed the config. Order matters for
the user: the dataset is opened (and a missing root reported) before any model is built, layer
names are checked before any data is decoded, and features already in the run's features.h5 are
never recomputed.
"""

from __future__ import annotations

import csv
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from omegaconf import DictConfig, OmegaConf, open_dict

from staticdyn.config import identity_of, run_dir_of
from staticdyn.data.pairs import group_pairs
from staticdyn.data.source import VideoSource
from staticdyn.data.tasks import get_task
from staticdyn.errors import DatasetError, StaticDynError
from staticdyn.models.spec import ZooModel

log = logging.getLogger("staticdyn")

DTYPES = {"float32": torch.float32, "float64": torch.float64, "bfloat16": torch.bfloat16,
          "float16": torch.float16}


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


def write_skipped_csv(path: Path, skipped: list[tuple[int, str, str]]) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["item", "reason"])
        for _, item, reason in skipped:
            w.writerow([item, reason])


def run_seeds(cfg: DictConfig) -> dict[str, Any]:
    """``probe.seeds=[1,2,3,4]``: one run per seed in ``seed<k>/``, then the papers' summary.

    Written beside them: ``seeds_layerwise.csv`` / ``seeds_unitwise.csv`` with, per layer, the
    mean over seeds and the half-width 1.96 * std / sqrt(n) (METHOD.md section 1, segmentation).
    """
    import pandas as pd

    from staticdyn.metrics.bootstrap import seed_interval

    out = run_dir_of(cfg)
    seeds = [int(s) for s in cfg.probe.seeds]
    results = {}
    for s in seeds:
        sub = cfg.copy()
        with open_dict(sub):
            sub.probe.seed = s
            sub.probe.seeds = None
            sub.out_dir = str(out / f"seed{s}")
        results[s] = run(sub)
    files = {}
    for name, cols in (("layerwise", ["dynamic_pct", "static_pct", "residual_pct",
                                      "score_dynamic", "score_static"]),
                       ("unitwise", ["dynamic", "static", "joint", "residual", "dead"])):
        df = pd.concat([getattr(r["tables"], name).assign(seed=s) for s, r in results.items()])
        rows = []
        for layer, g in df.groupby("layer", sort=False):
            row: dict[str, Any] = {"model": g["model"].iloc[0], "dataset": g["dataset"].iloc[0],
                                   "layer": layer, "n_seeds": len(g)}
            for c in cols:
                mean, half = seed_interval(g[c].to_numpy(float))
                row[c], row[f"{c}_ci"] = float(mean), float(half)
            rows.append(row)
        path = out / f"seeds_{name}.csv"
        pd.DataFrame(rows).to_csv(path, index=False)
        files[name] = path
        print(f"wrote {path}")
    return {"run_dir": out, "seeds": results, "files": files}


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run one probe job; returns paths and counts (also used by tests and sweeps)."""
    if cfg.probe.get("seeds"):
        return run_seeds(cfg)
    from staticdyn.metrics.analyze import analyze_h5
    from staticdyn.probe.extract import groups_per_batch, run_extraction
    from staticdyn.report.run_report import format_terminal_summary, write_run_report
    from staticdyn.store.h5 import FeatureStore

    probe = cfg.probe
    out = run_dir_of(cfg)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(int(probe.seed))
    if probe.get("threads"):
        torch.set_num_threads(int(probe.threads))

    source = build_source(cfg)  # fails on a missing root before any model is built
    model = build_model(cfg)
    if probe.get("list_layers"):
        text = "\n".join(f"  {a:<16} -> {p}" for a, p in model.layers.items())
        print(f"aliases of model '{model.name}':\n{text}\nmodule paths:\n  "
              + "\n  ".join(model.module_paths()))
        return {"listed": True}
    layers = model.resolve_layers(list(probe.layers) if probe.get("layers") else None)
    if model.untrained:
        log.warning("=" * 72)
        log.warning("MODEL '%s' IS UNTRAINED (random init): results describe the architecture, "
                    "not a trained network. Pass model.checkpoint=/path to probe real weights.",
                    model.name)
        log.warning("=" * 72)
    dtype = DTYPES.get(str(probe.get("dtype", "float32")))
    if dtype is None:
        raise StaticDynError(f"unknown probe.dtype '{probe.dtype}'. Valid: {', '.join(DTYPES)}")
    device = torch.device(str(probe.get("device", "cpu")))
    if device.type == "cuda" and not torch.cuda.is_available():
        raise StaticDynError("probe.device=cuda but no CUDA device is visible. Valid: cpu")
    model.module.to(device=device, dtype=dtype)

    task = get_task(str(probe.get("task", "action")))
    probe_plain = OmegaConf.to_container(probe, resolve=True)
    pairs = task.sample(source, probe_plain)
    all_groups = group_pairs(pairs)
    groups, first = select_shard(all_groups, int(probe.get("shard", 0)),
                                 int(probe.get("num_shards", 1)),
                                 groups_per_batch(int(probe.batch_size), all_groups))
    if len(pairs) < int(probe.n_pairs) and str(probe.get("task", "action")) == "action":
        log.warning("dataset has %d videos: %d pairs instead of %d", len(source.videos),
                    len(pairs), probe.n_pairs)
    attrs = {
        "config": OmegaConf.to_yaml(cfg, resolve=True),
        "model": model.name,
        "dataset": str(cfg.dataset.get("name", source.name)),
        "sampler": str(probe.sampler),
        "untrained": bool(model.untrained),
        "checkpoint": str(model.checkpoint or ""),
        "shard": int(probe.get("shard", 0)),
        "num_shards": int(probe.get("num_shards", 1)),
        "first_group": first,
        "n_pairs_total": len(pairs),
    }
    h5_path = out / "features.h5"
    with FeatureStore(h5_path, attrs, identity_of(cfg)) as store:
        if store.complete:
            log.info("features already complete in %s: reusing them", h5_path)
            stats = None
        else:
            if store.n_groups:
                log.info("resuming %s at group %d (%d rows)", h5_path, store.n_groups,
                         store.n_rows)
            stats = run_extraction(
                model, source, groups, store, layers, first_position=first,
                batch_size=int(probe.batch_size), num_workers=int(probe.num_workers),
                device=device, amp=probe.get("amp"), dtype=dtype,
                load_fn=task.load_group, probe_cfg=probe_plain,
                progress=bool(probe.get("progress", True)),
            )
        skipped = store.skipped()
        n_rows = store.n_rows
        forwards = int(store.f.attrs["forwards"])
        if n_rows == 0:
            reasons = "; ".join(f"{i}: {r}" for _, i, r in skipped[:3])
            raise DatasetError(f"every item was skipped ({len(skipped)} groups). First causes: "
                               f"{reasons or 'none recorded'}")
        store.finish(forwards_per_pair=forwards / max(n_rows, 1))
    write_skipped_csv(out / "skipped.csv", skipped)
    if stats is not None:
        log.info("extracted %d pairs with %d forwards (%.2f per pair) in %.1f s; %d skipped",
                 stats.pairs, stats.forwards, stats.forwards_per_pair, stats.seconds,
                 stats.skipped)
    log.info("forwards per pair over the whole file: %.3f", forwards / max(n_rows, 1))
    if skipped:
        log.warning("%d items skipped (see %s)", len(skipped), out / "skipped.csv")

    tables = analyze_h5(h5_path, lam=float(probe["lambda"]), estimator=str(probe.estimator))
    files = write_run_report(tables, out)
    print(format_terminal_summary(tables))
    print(f"\nwrote {h5_path}")
    for name, path in files.items():
        print(f"wrote {path}" if name else path)
    sys.stdout.flush()
    return {"run_dir": out, "features": h5_path, "files": files, "tables": tables,
            "stats": stats, "skipped": len(skipped), "forwards": forwards, "rows": n_rows}
