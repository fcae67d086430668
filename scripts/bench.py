"""Speed and memory figures for staticdyn, written to BENCHMARKS.md.

(a) time to probe all stages in one run / time to probe only the last stage (target <= 1.05;
    the authors' code needs one run per stage, so 5);
(b) forward passes per pair for each sampler;
(c) extraction wall time / bare model-forward time for the same clips (target <= 1.2 on CPU);
(d) metric time for 3000 pairs x 2048 units;
(e) peak RSS as the pair count grows (must stay flat: features stream to disk);
(f) allocator: seconds and minor page faults per clip of a steady-state forward, with glibc's
    defaults (cold), with huge pages for large tensors (run.py's THP_MEM_ALLOC_ENABLE) and with
    staticdyn's warm allocator (probe/allocator.py), per model;
(g) with --gpu: clips/s at the paper's input sizes and the fraction of time waiting on data;
(h) loader: frames decoded and loader CPU ms per clip, every frame read (old) vs only the
    clip's frames (new), Diving48-layout folders and mp4 files (scripts/bench_loader.py);
(j) extraction with probe.num_workers=auto: data-wait fraction, and extraction / bare forward
    (warm allocator) for i3d_r50 (target <= 1.1) (scripts/bench_loader.py);
(i) layout overhead: extraction wall time / bare forward time with every default layer hooked
    and pooled by its declared-or-verified layout, for r3d_18 and videomae_base at a reduced
    input (target <= 1.2 on CPU);
(k) per-run bootstrap intervals: ``make demo`` wall time with probe.bootstrap=1000 (the
    default) over probe.bootstrap=0 (target: at most 10 % more).

Sections not measured by a run (``--skip``) are kept from the existing BENCHMARKS.md, each
with the date and command of the run that measured it.

Timings are taken on whatever machine runs the script; BENCHMARKS.md records which.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _cfg(out: Path, overrides: list[str]):  # noqa: ANN202
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose("config", overrides=[f"out_dir={out}", "probe.progress=false",
                                            *overrides])


def _extract(cfg, layers: list[str] | None, layouts: bool = False):  # noqa: ANN001, ANN202
    """Run only the extraction stage of a run (model and data built outside the timer).
    ``layouts``: pool by each layer's declared-or-verified layout, as a run does (the dry
    run that settles them is outside the timer too)."""
    from omegaconf import OmegaConf

    from staticdyn.data.pairs import group_pairs
    from staticdyn.data.tasks import get_task
    from staticdyn.pipeline import build_model, build_source
    from staticdyn.probe.extract import run_extraction
    from staticdyn.store.h5 import FeatureStore

    source = build_source(cfg)
    model = build_model(cfg)
    resolved = model.resolve_layers(layers)
    if layouts:
        from staticdyn.probe.api import layer_io

        io = layer_io(model, resolved)
    else:
        io = None
    probe = OmegaConf.to_container(cfg.probe, resolve=True)
    task = get_task(probe["task"])
    groups = group_pairs(task.sample(source, probe))
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"bench_{time.monotonic_ns()}.h5"
    with FeatureStore(path, {"model": model.name}, {}) as store:
        t = time.perf_counter()
        stats = run_extraction(model, source, groups, store, resolved,
                               batch_size=int(probe["batch_size"]),
                               num_workers=probe["num_workers"], device=probe["device"],
                               amp=probe.get("amp"), load_fn=task.load_group, probe_cfg=probe,
                               progress=False, io=io)
        wall = time.perf_counter() - t
    path.unlink()
    return model, source, groups, stats, wall


def bare_forward_seconds(model, source, groups, cfg) -> float:  # noqa: ANN001
    """Full-model forward (head included, no hooks) on the same clips in the same batches."""
    import torch
    from omegaconf import OmegaConf

    from staticdyn.data.tasks import get_task
    from staticdyn.probe.extract import aligned_batches, groups_per_batch

    probe = OmegaConf.to_container(cfg.probe, resolve=True)
    task = get_task(probe["task"])
    items = [task.load_group(source, i, g, model.clip_spec, probe) for i, g in enumerate(groups)]
    per = groups_per_batch(int(probe["batch_size"]), groups)
    total = 0.0
    for batch in aligned_batches(list(range(len(items))), per):
        clips = [c for i in batch for c in items[i].clips]
        inputs = [torch.stack([c[p] for c in clips]) for p in range(len(clips[0]))]
        x = inputs if len(inputs) > 1 else inputs[0]
        t = time.perf_counter()
        with torch.inference_mode():
            try:
                model.module(list(x) if isinstance(x, list) else x)
            except RuntimeError:
                # heads with fixed pools fail at reduced sizes: time the backbone instead
                from staticdyn.probe.hooks import extract_pooled

                extract_pooled(model.module, x, {"last": model.layers[model.default_layers[-1]]})
        total += time.perf_counter() - t
    return total


def bench_layers_and_overhead(model_name: str, dataset: str, pairs: int, work: Path,
                              extra: list[str]) -> dict:
    over = [f"model={model_name}", f"dataset={dataset}", f"probe.n_pairs={pairs}", *extra]
    cfg = _cfg(work / "ab", over)
    # warm-up (first forwards allocate and tune)
    _extract(_cfg(work / "warm", [*over[:2], "probe.n_pairs=4"]), None)
    last = "stage5"
    # alternate the two and keep the best of two each, so neither pays the other's warm-up
    t_last = t_all = float("inf")
    for _ in range(2):
        t_last = min(t_last, _extract(cfg, [last])[4])
        model, source, groups, s_all, t = _extract(cfg, None)
        t_all = min(t_all, t)
    t_bare = bare_forward_seconds(model, source, groups, cfg)
    res = {"model": model_name, "dataset": dataset, "pairs": s_all.pairs,
           "t_all_layers": t_all, "t_last_layer": t_last, "ratio_all_over_last": t_all / t_last,
           "t_bare_forward": t_bare, "ratio_extract_over_bare": t_all / t_bare,
           "data_wait_fraction": s_all.data_wait_fraction,
           "forwards_per_pair_shared": s_all.forwards_per_pair,
           "workers": next((int(x.split("=")[1]) for x in extra if "num_workers" in x), 0)}
    cfg_auth = _cfg(work / "auth", [*over, "probe.sampler=authors", "probe.n_pairs=8"])
    res["forwards_per_pair_authors"] = _extract(cfg_auth, ["stage5"])[3].forwards_per_pair
    return res


# (i): full-width models at a reduced clip, so a CPU run takes minutes, not hours
IO_INPUTS: dict[str, list[str]] = {
    "r3d_18": ["model.clip.frames=8", "model.clip.crop=112", "model.clip.short_side=128"],
    "videomae_base": ["model.clip.frames=8", "model.clip.crop=112", "model.clip.short_side=128",
                      "++model.builder_kwargs.num_frames=8",
                      "++model.builder_kwargs.image_size=112"],
}


def bench_io_overhead(models: list[str], dataset: str, pairs: int, work: Path,
                      extra: list[str]) -> list[dict]:
    """(i) Extraction (every default layer hooked, pooled by its layout) / bare forward on the
    same clips in the same batches, per model; best of two extractions after a warm-up."""
    rows = []
    for name in models:
        over = [f"model={name}", f"dataset={dataset}", f"probe.n_pairs={pairs}",
                *IO_INPUTS.get(name, []), *extra]
        cfg = _cfg(work / f"io_{name}", over)
        _extract(_cfg(work / f"io_warm_{name}", [*over, "probe.n_pairs=4"]), None, True)
        t_all, best = float("inf"), None
        for _ in range(2):
            model, source, groups, stats, t = _extract(cfg, None, True)
            if t < t_all:
                t_all, best = t, stats
        t_bare = bare_forward_seconds(model, source, groups, cfg)
        spec = model.clip_spec
        rows.append({"model": name, "input": f"{spec.frames}x{spec.crop}x{spec.crop}",
                     "layers": len(model.resolve_layers(None)), "pairs": best.pairs,
                     "t_extract": t_all, "t_bare_forward": t_bare,
                     "ratio_extract_over_bare": t_all / t_bare,
                     # the forwards alone, hooks and pooling included: data loading left out
                     "t_hooked_forward": best.forward_seconds,
                     "ratio_hooked_over_bare": best.forward_seconds / t_bare,
                     "t_data_wait": best.wait_seconds})
        print(rows[-1])
    return rows


def bench_metrics(n: int = 3000, c: int = 2048) -> dict:
    from staticdyn.metrics.layerwise import layerwise
    from staticdyn.metrics.unitwise import classify_units, count_classes, unit_scores

    rng = np.random.default_rng(0)
    za = rng.normal(size=(n, c)).astype(np.float32)
    zb = (za + rng.normal(size=(n, c))).astype(np.float32)
    factor = rng.integers(0, 2, n)
    t = time.perf_counter()
    layerwise(za, zb, factor)
    r_d, r_s, dead = unit_scores(za, zb, factor)
    count_classes(classify_units(r_d, r_s, dead, 0.5))
    return {"pairs": n, "units": c, "seconds": time.perf_counter() - t}


def bench_bootstrap(n: int = 3000, c: int = 2048, n_boot: int = 1000) -> dict:
    from staticdyn.metrics.bootstrap import bootstrap_layer

    rng = np.random.default_rng(1)
    za = rng.normal(size=(n, c)).astype(np.float32)
    zb = (za + rng.normal(size=(n, c))).astype(np.float32)
    factor = rng.integers(0, 2, n)
    t = time.perf_counter()
    bootstrap_layer(za, zb, factor, n_boot=n_boot)
    return {"B": n_boot, "pairs": n, "units": c, "seconds": time.perf_counter() - t}


RSS_DRIVER = """
import resource, sys, json
sys.path.insert(0, {root!r})
from scripts.bench import _cfg
from staticdyn.pipeline import run
from pathlib import Path
cfg = _cfg(Path({out!r}), {over!r})
run(cfg)
print("RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def bench_rss(work: Path, counts: list[int]) -> list[dict]:
    out = []
    for n in counts:
        over = ["model=toy3d", "dataset=synthetic_tiny", f"dataset.n_videos={n}",
                f"probe.n_pairs={n}", "probe.batch_size=24"]
        code = RSS_DRIVER.format(root=str(ROOT), out=str(work / f"rss{n}"), over=over)
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              cwd=ROOT, check=True)
        kb = int(next(line.split()[1] for line in proc.stdout.splitlines()
                      if line.startswith("RSS_KB")))
        out.append({"pairs": n, "peak_rss_mb": kb / 1024, "seconds": time.perf_counter() - t})
    return out


def bench_demo_bootstrap(work: Path, reps: int) -> dict:
    """(k) What per-run intervals cost: ``make demo`` (``python run.py``, the default run) with
    ``probe.bootstrap=1000`` (the default) and with ``probe.bootstrap=0``, each a fresh process
    in a fresh directory, alternated ``reps`` times; the best wall time of each is kept (the
    least disturbed by other work on the machine). Target: the bootstrap adds <= 10 %."""
    best: dict[int, float] = {}
    for i in range(reps):
        for b in (0, 1000):
            out = work / f"demo_b{b}_{i}"
            t = time.perf_counter()
            cmd = [sys.executable, "run.py", f"probe.bootstrap={b}", "probe.progress=false",
                   f"hydra.run.dir={out}"]
            subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
            best[b] = min(best.get(b, float("inf")), time.perf_counter() - t)
    return {"reps": reps, "t_no_bootstrap": best[0], "t_bootstrap": best[1000],
            "overhead": best[1000] / best[0] - 1.0}


def bench_gpu(work: Path, pairs: int) -> list[dict]:
    rows = []
    for name in ("slowfast_r50", "i3d_r50", "mvit_base_16x4"):
        over = [f"model={name}", "dataset=synthetic", f"probe.n_pairs={pairs}",
                "probe.device=cuda", "probe.batch_size=32", "probe.num_workers=8",
                "dataset.n_videos=2000"]
        _extract(_cfg(work / "gw", [*over[:2], "probe.n_pairs=16", *over[3:]]), None)
        _, _, _, st, wall = _extract(_cfg(work / f"g_{name}", over), None)
        rows.append({"model": name, "pairs": st.pairs, "clips_per_s": st.forwards / wall,
                     "pairs_per_s": st.pairs / wall, "data_wait_fraction":
                     st.data_wait_fraction, "seconds": wall})
    return rows


_ALLOC_CHILD = """
import json, resource, sys, time, torch
mode, name, batch, crop, reps = sys.argv[1], sys.argv[2], *map(int, sys.argv[3:6])
if mode == "warm":
    from staticdyn.probe.allocator import keep_freed_memory
    assert keep_freed_memory().applied
from staticdyn.models.zoo import load_model
model = load_model(name, clip={"crop": crop, "short_side": crop})
spec = model.clip_spec
x = [torch.randn(batch, 3, t, crop, crop) for t in spec.pathway_frames]
layers = model.resolve_layers(None)
from staticdyn.probe.hooks import extract_pooled
extract_pooled(model.module, x if len(x) > 1 else x[0], layers)  # warm-up
f0, t0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.perf_counter()
for _ in range(reps):
    extract_pooled(model.module, x if len(x) > 1 else x[0], layers)
dt, df = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"s_per_clip": dt / reps / batch, "faults_per_clip": df / reps / batch,
                  "peak_rss_mb": rss}))
"""


def bench_allocator(models: list[str], batch: int, crop: int, reps: int) -> list[dict]:
    """Per model, each mode in a fresh process: cold (glibc defaults, no huge pages), huge
    pages (``THP_MEM_ALLOC_ENABLE=1``, what ``probe.warm_allocator=false`` gets from run.py)
    and warm (the default; run.py's huge pages on as well)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MALLOC_", "GLIBC_TUNABLES", "THP_"))}
    modes = {"cold": ("cold", {}), "thp": ("cold", {"THP_MEM_ALLOC_ENABLE": "1"}),
             "warm": ("warm", {"THP_MEM_ALLOC_ENABLE": "1"})}
    rows = []
    for name in models:
        row: dict = {"model": name, "batch": batch, "crop": crop, "reps": reps}
        for label, (mode, extra) in modes.items():
            out = subprocess.run([sys.executable, "-c", _ALLOC_CHILD, mode, name, str(batch),
                                  str(crop), str(reps)], capture_output=True, text=True,
                                 cwd=ROOT, env={**env, **extra}, check=True).stdout
            row[label] = json.loads(out.strip().splitlines()[-1])
        rows.append(row)
        print(row)
    return rows


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    return (f"{platform.system()} {platform.machine()} ({cpu}), {os.cpu_count()} CPU cores, "
            f"torch {torch.__version__} with {torch.get_num_threads()} threads, GPU: {gpu}")


def write_markdown(res: dict, path: Path, command: str) -> None:  # noqa: C901
    a = res.get("layers")
    lines = ["# Benchmarks", "", f"Machine: {res['machine']}", "", f"Command: `{command}`", "",
             f"Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}", ""]
    if a:
        lines += [
            f"## (a)-(c) Extraction ({a['model']} on {a['dataset']}, {a['pairs']} pairs, "
            f"{a.get('workers', 0)} loader workers)", "",
            "| figure | value | target |", "|---|---|---|",
            f"| (a) all stages / last stage only | {a['ratio_all_over_last']:.3f} "
            f"({a['t_all_layers']:.1f} s / {a['t_last_layer']:.1f} s) | <= 1.05 (authors: 5) |",
            f"| (b) forwards per pair, `shared` | {a['forwards_per_pair_shared']:.2f} | <= 1.5 |",
            f"| (b) forwards per pair, `authors` | {a['forwards_per_pair_authors']:.2f} | 2 |",
            f"| (c) extraction / bare forward | {a['ratio_extract_over_bare']:.3f} "
            f"({a['t_all_layers']:.1f} s / {a['t_bare_forward']:.1f} s) | <= 1.2 on CPU |",
            f"| data-wait fraction of extraction | {a['data_wait_fraction']:.2f} | |", ""]
    m = res.get("metrics")
    if m:
        lines += ["## (d) Metrics", "",
                  f"Layer-wise + unit-wise for {m['pairs']} pairs x {m['units']} units: "
                  f"{m['seconds']:.2f} s", ""]
    if res.get("bootstrap"):
        b = res["bootstrap"]
        lines += ["## Bootstrap", "", f"{b['B']} resamples of {b['pairs']} pairs x "
                  f"{b['units']} units: {b['seconds']:.2f} s", ""]
    if res.get("rss"):
        lines += ["## (e) Peak RSS vs pairs (toy3d on synthetic_tiny, one process per run)", "",
                  "| pairs | peak RSS (MB) | wall (s) |", "|---|---|---|"]
        lines += [f"| {r['pairs']} | {r['peak_rss_mb']:.0f} | {r['seconds']:.1f} |"
                  for r in res["rss"]]
        lines.append("")
    if res.get("gpu"):
        lines += ["## GPU throughput (paper input sizes)", "",
                  "| model | pairs | clips/s | pairs/s | data-wait fraction |",
                  "|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['pairs']} | {r['clips_per_s']:.1f} | "
                  f"{r['pairs_per_s']:.1f} | {r['data_wait_fraction']:.2f} |" for r in res["gpu"]]
        lines.append("")
    if res.get("allocator"):
        lines += ["## (f) Allocator: steady-state forward per clip: glibc defaults, huge "
                  "pages, warm", "",
                  "Each model and mode in a fresh process; all default layers hooked. cold: "
                  "glibc's defaults, 4 KB pages; huge pages: `THP_MEM_ALLOC_ENABLE=1` (set by "
                  "run.py), what `probe.warm_allocator=false` gets; warm: "
                  "`probe.warm_allocator=true` (the default). The warm peak varies from process "
                  "to process (how glibc's heap fragments).", "",
                  "| model | batch x crop | s/clip cold / huge pages / warm | faults/clip cold / "
                  "huge pages / warm | peak RSS cold / huge pages / warm (MB) |",
                  "|---|---|---|---|---|"]
        for r in res["allocator"]:
            modes = [m for m in ("cold", "thp", "warm") if m in r]
            lines.append(
                f"| {r['model']} | {r['batch']} x {r['crop']} | "
                + " / ".join(f"{r[m]['s_per_clip']:.3f}" for m in modes) + " | "
                + " / ".join(f"{r[m]['faults_per_clip']:.0f}" for m in modes) + " | "
                + " / ".join(f"{r[m]['peak_rss_mb']:.0f}" for m in modes) + " |")
        lines.append("")
    if res.get("io"):
        lines += ["## (i) Layout overhead: extraction / bare forward (reduced input)", "",
                  "Every default layer hooked and pooled by its declared-or-verified layout "
                  "(probe/layouts.py); the bare forward runs the same clips in the same batches "
                  "without hooks. Hooked forwards: the extraction's forward calls alone (hooks "
                  "and pooling in, data loading out).", "",
                  "| model | input (T x H x W) | layers | pairs | extraction (s) | "
                  "bare forward (s) | extraction / bare | hooked forwards / bare | "
                  "data wait (s) | target |", "|---|---|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['model']} | {r['input']} | {r['layers']} | {r['pairs']} | "
                  f"{r['t_extract']:.1f} | {r['t_bare_forward']:.1f} | "
                  f"{r['ratio_extract_over_bare']:.3f} | {r['ratio_hooked_over_bare']:.3f} | "
                  f"{r['t_data_wait']:.1f} | extraction / bare <= 1.2 on CPU |"
                  for r in res["io"]]
        lines.append("")
    if res.get("demo_bootstrap"):
        d = res["demo_bootstrap"]
        lines += ["## (k) Per-run bootstrap intervals: cost on `make demo`", "",
                  "`python run.py` (x3d_xs on synthetic, the demo) in a fresh process and "
                  f"directory, best of {d['reps']} each:", "",
                  "| probe.bootstrap | wall (s) |", "|---|---|",
                  f"| 0 | {d['t_no_bootstrap']:.1f} |",
                  f"| 1000 (default) | {d['t_bootstrap']:.1f} |",
                  "", f"Overhead: {100 * d['overhead']:+.1f} % (target <= +10 %).", ""]
    from scripts.bench_loader import markdown as loader_markdown

    lines += loader_markdown(res)  # (h), (j)
    path.write_text(_merge_sections(path, lines, command))


def _sections(text: str) -> dict[str, str]:
    """``## heading`` -> the section's text (heading included)."""
    out: dict[str, str] = {}
    head = None
    for line in text.splitlines():
        if line.startswith("## "):
            head = line
            out[head] = line + "\n"
        elif head is not None:
            out[head] += line + "\n"
    return out


def _merge_sections(path: Path, lines: list[str], command: str) -> str:
    """The new sections, then every section of the existing file this run did not measure,
    marked with that file's date and command so no number loses its provenance."""
    new = "\n".join(lines)
    if not path.exists():
        return new
    old_text = path.read_text()
    fresh = _sections(new)
    meta = [ln for ln in old_text.splitlines() if ln.startswith(("Date:", "Command:"))]
    kept = [body for head, body in _sections(old_text).items() if head not in fresh]
    if not kept:
        return new
    note = f"_(kept from an earlier run; {'; '.join(meta[:2])})_" if meta else ""
    kept = [body.replace("\n", f"\n\n{note}\n", 1) if note and "kept from" not in body
            else body for body in kept]
    return new.rstrip("\n") + "\n\n" + "\n".join(b.rstrip("\n") + "\n" for b in kept)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="x3d_xs")
    ap.add_argument("--dataset", default="synthetic")
    ap.add_argument("--pairs", type=int, default=60)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader workers for (a)-(c)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--rss", default="200,1000,2000")
    ap.add_argument("--gpu", action="store_true")
    ap.add_argument("--gpu-pairs", type=int, default=256)
    ap.add_argument("--skip", default="",
                    help="comma list of: layers,metrics,bootstrap,rss,allocator,io,"
                    "loader,autoworkers,demo")
    ap.add_argument("--demo-reps", type=int, default=2, help="(k) runs of each variant")
    ap.add_argument("--io-models", default="r3d_18,videomae_base",
                    help="(i) models for extraction / bare forward with layouts")
    ap.add_argument("--io-pairs", type=int, default=40, help="(i) pairs per model")
    ap.add_argument("--alloc-models", default="x3d_xs,i3d_r50,slowfast_r50")
    ap.add_argument("--alloc-batch", type=int, default=8)
    ap.add_argument("--alloc-crop", type=int, default=224)
    ap.add_argument("--alloc-reps", type=int, default=2)
    # (h), (j): scripts/bench_loader.py; a quick check: --loader-videos 2 --loader-height 64
    # --loader-crop 32 --loader-mp4-frames 96 --j-pairs 4 --j-clip model.clip.crop=32,...
    ap.add_argument("--loader-videos", type=int, default=8, help="(h)/(j) videos per folder")
    ap.add_argument("--loader-height", type=int, default=256, help="(h)/(j) frame height")
    ap.add_argument("--loader-crop", type=int, default=0, help="(h) crop (0: the cards')")
    ap.add_argument("--loader-mp4-frames", type=int, default=300, help="(h) mp4 length")
    ap.add_argument("--j-pairs", type=int, default=32, help="(j) pairs for i3d_r50")
    ap.add_argument("--j-clip", default="", help="(j) comma list of model overrides")
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    res: dict = {"machine": machine()}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "layers" not in skip:
            extra = [f"probe.num_workers={args.workers}"]
            if args.threads:
                extra.append(f"probe.threads={args.threads}")
                import torch

                torch.set_num_threads(args.threads)
            res["layers"] = bench_layers_and_overhead(args.model, args.dataset, args.pairs, work,
                                                      extra)
            print(json.dumps(res["layers"], indent=1))
        if "metrics" not in skip:
            res["metrics"] = bench_metrics()
            print(res["metrics"])
        if "bootstrap" not in skip:
            res["bootstrap"] = bench_bootstrap()
            print(res["bootstrap"])
        if "rss" not in skip:
            res["rss"] = bench_rss(work, [int(x) for x in args.rss.split(",")])
            print(res["rss"])
        if "allocator" not in skip:
            res["allocator"] = bench_allocator(args.alloc_models.split(","), args.alloc_batch,
                                               args.alloc_crop, args.alloc_reps)
        if "io" not in skip:
            extra = [f"probe.num_workers={args.workers}"]
            res["io"] = bench_io_overhead(args.io_models.split(","), args.dataset,
                                          args.io_pairs, work, extra)
        if "loader" not in skip:
            from scripts.bench_loader import bench_loader

            res["loader"] = bench_loader(work, args.loader_videos, args.loader_height,
                                         args.loader_crop or None,
                                         mp4_frames=args.loader_mp4_frames)
        if "autoworkers" not in skip:
            from scripts.bench_loader import bench_auto_workers

            res["auto_workers"] = bench_auto_workers(
                work, args.loader_videos, args.loader_height, args.j_pairs,
                [x for x in args.j_clip.split(",") if x])
            print(res["auto_workers"])
        if "demo" not in skip:
            res["demo_bootstrap"] = bench_demo_bootstrap(work, args.demo_reps)
            print(res["demo_bootstrap"])
        if args.gpu:
            res["gpu"] = bench_gpu(work, args.gpu_pairs)
            print(res["gpu"])
    write_markdown(res, Path(args.out), "python scripts/bench.py " + " ".join(sys.argv[1:]))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1, default=str))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
