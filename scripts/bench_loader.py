"""Loader sections of scripts/bench.py (issue 14): what reading only a clip's frames saves.

(h) frames decoded per clip and loader CPU milliseconds per clip, old path (every frame of the
    video decoded, then the window indexed) vs new (only the clip's frames read), for a
    Diving48-layout folder of 64-frame videos (JPEG frame folders, ``image_%05d.jpg`` from 0)
    and a folder of 300-frame mp4 files (PyAV, built-in styles), for an 8-frame model (i3d_r50)
    and SlowFast (32 fast frames); targets for the 8-frame model: >= 5x fewer decoded frames,
    >= 4x less loader time;
(j) the extraction loop with ``probe.num_workers=auto`` on the Diving48-layout folder: its
    data-wait fraction, and extraction / bare forward time (warm allocator) for i3d_r50
    (target <= 1.1).

Both run in this process, on synthetic data written to a temporary folder; the sizes are
arguments so a check runs in seconds (``--loader-videos 2 --loader-size 64``) and the real
measurement at Diving48's frame size.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

GPU_NOTE = "not measured (no GPU lent)"
PROBE = {"n_pairs": 0, "seed": 0, "sampler": "shared", "clip_start": "first",
         "short_videos": "cycle"}


def _moving(n_frames: int, height: int, width: int, seed: int) -> np.ndarray:
    """Textured background with a square sliding across (uint8 THWC)."""
    rng = np.random.default_rng(seed)
    bg = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    side = max(4, height // 4)
    patch = rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
    frames = np.repeat(bg[None], n_frames, axis=0)
    for t in range(n_frames):
        x = (3 * t) % max(1, width - side)
        frames[t, height // 3:height // 3 + side, x:x + side] = patch
    return frames


def write_diving48_layout(root: Path, n_videos: int, n_frames: int, height: int,
                          n_styles: int = 4) -> Path:
    """``<root>/style_<k>/<video>/image_%05d.jpg`` (0-based), the Diving48 stylized layout;
    style k is a fixed per-channel gain (what the frames show does not matter to a loader)."""
    from staticdyn.data.frames import write_frame_folder

    width = int(round(height * 16 / 9 / 2)) * 2
    for v in range(n_videos):
        frames = _moving(n_frames, height, width, v)
        for k in range(1, n_styles + 1):
            gain = np.random.default_rng([7, k]).uniform(0.5, 1.0, 3)
            styled = (frames * gain).astype(np.uint8)
            write_frame_folder(root / f"style_{k}" / f"video_{v:03d}", styled,
                               pattern="image_%05d.jpg", start_index=0)
    return root


def write_mp4_folder(root: Path, n_videos: int, n_frames: int, height: int) -> Path:
    """H.264 mp4 files (keyframe every 16 frames, B-frames), written with PyAV."""
    import av

    root.mkdir(parents=True, exist_ok=True)
    width = int(round(height * 16 / 9 / 2)) * 2
    for v in range(n_videos):
        with av.open(str(root / f"video_{v:03d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"g": "16", "bf": "2", "preset": "veryfast"}
            for frame in _moving(n_frames, height, width, v):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return root


def _specs(size: int | None) -> dict[str, Any]:
    """The 8-frame model's and SlowFast's clip specs from their cards (crop reduced to
    ``size`` for a quick check)."""
    from omegaconf import OmegaConf

    from staticdyn.data.spec import ClipSpec

    root = Path(__file__).resolve().parents[1] / "conf" / "model"
    out = {}
    for label, card in (("8-frame (i3d_r50)", "i3d_r50"), ("SlowFast (32 fast)",
                                                          "slowfast_r50")):
        clip = OmegaConf.to_container(OmegaConf.load(root / f"{card}.yaml").clip, resolve=True)
        assert isinstance(clip, dict)
        if size:
            clip.update({"crop": size, "short_side": size})
        out[label] = ClipSpec(**{k: v for k, v in clip.items() if k in ClipSpec.__annotations__})
    return out


def _old_group(source: Any, pairs: list, spec: Any) -> int:
    """The loader before issue 14: every frame of the video read per style, then the clip's
    frames indexed (``clips.build_clip``); returns the clips built."""
    from staticdyn.data.clips import build_clip, permute_clip
    from staticdyn.data.pairs import DYNAMIC, clip_start, permutations_for

    p0 = pairs[0]
    frames_a = source.read(p0.video, p0.style_a)
    start = clip_start(p0.seed, frames_a.shape[0], spec.n_sample_frames, "first")
    clip_a = build_clip(frames_a, spec, start)
    n = 1
    for p in pairs:
        if p.factor == DYNAMIC:
            build_clip(source.read(p.video, p.style_b), spec, start)
        else:
            permute_clip(clip_a, permutations_for(p.seed, spec.pathway_frames))
        n += 1
    return n


def _measure(make_source: Any, spec: Any, n_pairs: int, new: bool) -> dict[str, float]:
    from staticdyn.data.pairs import group_pairs, sample_pairs
    from staticdyn.data.tasks.action import load_group

    source = make_source()  # fresh: no frame cached from the other path
    pairs = sample_pairs(source.videos, source.num_styles, n_pairs, 0, "shared")
    clips = 0
    t = time.process_time()
    for i, group in enumerate(group_pairs(pairs)):
        if new:
            item = load_group(source, i, group, spec, "first", "cycle")
            assert item.skip_reason is None, item.skip_reason
            clips += len(item.clips)
        else:
            clips += _old_group(source, group, spec)
    cpu = time.process_time() - t
    return {"clips": clips, "frames_per_clip": source.frames_decoded / clips,
            "cpu_ms_per_clip": 1000 * cpu / clips}


def bench_loader(work: Path, n_videos: int, height: int, crop: int | None,
                 n_frames: int = 64, mp4_frames: int = 300) -> list[dict]:
    """(h) old vs new loader per data set and clip spec, in this process (no workers).

    The mp4 files are ``mp4_frames`` long (10 s at 30 fps by default, like Kinetics): a
    video as long as the 64-frame window has nothing to skip, whatever the reader."""
    from staticdyn.data.frames import FrameFolderSource
    from staticdyn.data.video_folder import VideoFolderSource

    d48 = write_diving48_layout(work / "diving48", n_videos, n_frames, height)
    mp4 = write_mp4_folder(work / "mp4", n_videos, mp4_frames, height)
    sets = {
        f"Diving48 layout ({n_frames}-frame JPEG folders, {height}p)":
            lambda: FrameFolderSource(d48, pattern="image_%05d.jpg"),
        f"mp4 folder ({mp4_frames} frames, {height}p, built-in styles)":
            lambda: VideoFolderSource(mp4, num_styles=4, seed=0),
    }
    rows = []
    for data, make in sets.items():
        for label, spec in _specs(crop).items():
            old = _measure(make, spec, 2 * n_videos, new=False)
            new = _measure(make, spec, 2 * n_videos, new=True)
            rows.append({"data": data, "model": label, "old": old, "new": new,
                         "frames_ratio": old["frames_per_clip"] / new["frames_per_clip"],
                         "time_ratio": old["cpu_ms_per_clip"] / new["cpu_ms_per_clip"]})
            print(rows[-1])
    return rows


def bench_auto_workers(work: Path, n_videos: int, height: int, pairs: int,
                       clip_over: list[str], model: str = "i3d_r50") -> dict:
    """(j) extraction with ``probe.num_workers=auto`` over the Diving48-layout folder, warm
    allocator: data-wait fraction, and extraction / bare forward on the same clips."""
    from scripts.bench import _cfg, _extract, bare_forward_seconds
    from staticdyn.probe.allocator import keep_freed_memory

    keep_freed_memory(True)
    root = work / "diving48_j"
    if not root.exists():
        write_diving48_layout(root, n_videos, 64, height)
    over = [f"model={model}", "dataset=frames", f"dataset.root={root}",
            "dataset.pattern=image_%05d.jpg", f"probe.n_pairs={pairs}",
            "probe.num_workers=auto", *clip_over]
    _extract(_cfg(work / "j_warm", [*over, "probe.n_pairs=4"]), None)
    t_all = float("inf")
    stats = None
    for _ in range(2):
        mdl, source, groups, st, t = _extract(_cfg(work / "j", over), None)
        if t < t_all:
            t_all, stats = t, st
    t_bare = bare_forward_seconds(mdl, source, groups, _cfg(work / "j", over))
    assert stats is not None
    return {"model": model, "pairs": stats.pairs, "workers": stats.workers,
            "data_wait_fraction": stats.data_wait_fraction, "t_extract": t_all,
            "t_bare_forward": t_bare, "ratio_extract_over_bare": t_all / t_bare}


def markdown(res: dict) -> list[str]:
    """BENCHMARKS.md lines of sections (h) and (j) (each only when measured)."""
    lines: list[str] = []
    if res.get("loader"):
        lines += ["## (h) Loader: only the frames a clip needs vs every frame", "",
                  "Per clip built by the action loader in one process (no workers): images or "
                  "video frames decoded, and loader CPU time (decode, style, transform). Old: "
                  "every frame of the video read per style, then the window indexed. Targets "
                  "for the 8-frame model: >= 5x fewer frames, >= 4x less time. The mp4 folder "
                  "uses the default built-in styles; one of them (palette: whole-clip colour "
                  "statistics) adds a sampling pass over the whole video, which keeps no "
                  "frame. A video decoder must decode from the keyframe up to the clip's last "
                  "frame, so an mp4 cannot reach the frame folders' ratio.", "",
                  "| data | model | frames/clip old | new | ratio | CPU ms/clip old | new | "
                  "ratio |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['data']} | {r['model']} | {r['old']['frames_per_clip']:.1f} | "
                  f"{r['new']['frames_per_clip']:.1f} | {r['frames_ratio']:.1f}x | "
                  f"{r['old']['cpu_ms_per_clip']:.1f} | {r['new']['cpu_ms_per_clip']:.1f} | "
                  f"{r['time_ratio']:.1f}x |" for r in res["loader"]]
        lines += ["", f"GPU JPEG decoding (`probe.gpu_decode=true`), clips/s at batch 32 for "
                  f"i3d_r50 and slowfast_r50 with the CPU and GPU JPEG paths: {GPU_NOTE}.", ""]
    j = res.get("auto_workers")
    if j:
        lines += ["## (j) Extraction with probe.num_workers=auto (warm allocator)", "",
                  "| model | pairs | workers (auto) | data-wait fraction | extraction (s) | "
                  "bare forward (s) | ratio | target |", "|---|---|---|---|---|---|---|---|",
                  f"| {j['model']} | {j['pairs']} | {j['workers']} | "
                  f"{j['data_wait_fraction']:.3f} | {j['t_extract']:.1f} | "
                  f"{j['t_bare_forward']:.1f} | {j['ratio_extract_over_bare']:.3f} | <= 1.1 |",
                  "", "On a CPU-only machine the loader workers' decoding shares the cores "
                  "with the forward: what is left above the bare forward is that CPU time, "
                  "not waiting (see the data-wait fraction).", "",
                  f"GPU data-wait fraction: {GPU_NOTE}.", ""]
    return lines
