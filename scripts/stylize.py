#!/usr/bin/env python
"""Write the stylized frame-folder layout for any folder of videos.

    python scripts/stylize.py SRC_DIR OUT_ROOT [--styles 4] [--stylizer SPEC] [--workers 2]

Output: ``OUT_ROOT/style_<k>/<video>/frame_<nnnnn>.jpg`` (k from 0, frames from 1), read back
by ``dataset=frames dataset.root=OUT_ROOT``. Videos in sub-folders get ``a__b`` folder names
(``/`` -> ``__``) because the reader expects one level of video folders.

Resumable: each (video, style) folder is written under a temporary name and renamed when
complete, so a folder that exists is finished and is skipped on the next run; an interrupted
run leaves only ``*.partial`` folders, which the next run deletes first. Stylizing a whole
video at once keeps its clip-wide style statistics identical for every clip later cut from it.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from tqdm import tqdm

from staticdyn.data.frames import DEFAULT_PATTERN, DEFAULT_START_INDEX, write_frame_folder
from staticdyn.data.styles import Stylizer, load_stylizer
from staticdyn.data.video_folder import VIDEO_EXTENSIONS, VideoFolderSource, decode_video
from staticdyn.errors import StaticDynError

log = logging.getLogger("stylize")

_STYLIZER: Stylizer | None = None


def folder_name(video: str) -> str:
    """Flat folder name for a video id that may contain sub-folders."""
    return video.replace("/", "__")


def _init_worker(spec: str | list[str] | None, num_styles: int, seed: int) -> None:
    """Build the stylizer once per worker process (TorchScript modules do not pickle well)."""
    global _STYLIZER
    _STYLIZER = load_stylizer(spec, num_styles=num_styles, seed=seed)


def stylize_one(path: str, out_dirs: list[str], pattern: str, start_index: int, quality: int,
                max_frames: int | None, short_side: int | None) -> int:
    """Decode one video and write every style still missing; returns the frame count."""
    assert _STYLIZER is not None, "worker not initialised"
    frames = decode_video(path, max_frames=max_frames, short_side=short_side)
    for out in out_dirs:
        final = Path(out)
        style = int(final.parent.name.rsplit("_", 1)[1])
        partial = final.with_name(final.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        write_frame_folder(partial, _STYLIZER(frames, style), pattern, start_index, quality)
        os.replace(partial, final)
    return len(frames)


def remove_partials(out_root: Path) -> int:
    """Delete ``*.partial`` folders an interrupted run left behind; returns how many."""
    stale = list(out_root.glob("style_*/*.partial"))
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return len(stale)


def pending(source: VideoFolderSource, out_root: Path, num_styles: int) -> dict[str, list[str]]:
    """{video: [output folders not yet complete]} for every video with work left."""
    todo: dict[str, list[str]] = {}
    for video in source.videos:
        dirs = [out_root / f"style_{k}" / folder_name(video) for k in range(num_styles)]
        missing = [str(d) for d in dirs if not d.is_dir()]
        if missing:
            todo[video] = missing
    return todo


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("src_dir", type=Path, help="folder of video files")
    p.add_argument("out_root", type=Path, help="output root (style_<k>/<video>/...)")
    p.add_argument("--styles", type=int, default=4, help="number of styles (default 4)")
    p.add_argument("--stylizer", nargs="+", default=None,
                   help="built-in style names, a TorchScript file (one per style) or pkg.mod:fn")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) - 1))
    p.add_argument("--pattern", default=DEFAULT_PATTERN)
    p.add_argument("--start-index", type=int, default=DEFAULT_START_INDEX)
    p.add_argument("--quality", type=int, default=95, help="JPEG quality")
    p.add_argument("--max-frames", type=int, default=None)
    p.add_argument("--short-side", type=int, default=None)
    p.add_argument("--extensions", nargs="+", default=list(VIDEO_EXTENSIONS))
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    spec: str | list[str] | None
    spec = args.stylizer[0] if args.stylizer and len(args.stylizer) == 1 else args.stylizer
    try:
        source = VideoFolderSource(args.src_dir, extensions=args.extensions, stylizer=spec,
                                   num_styles=args.styles, seed=args.seed)
    except StaticDynError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    num_styles = source.num_styles
    if remove_partials(args.out_root):
        log.info("removed unfinished output of an interrupted run")
    todo = pending(source, args.out_root, num_styles)
    log.info("%d videos, %d already done, %d to stylize in %d styles", len(source.videos),
             len(source.videos) - len(todo), len(todo), num_styles)
    jobs = {v: (str(source.path(v)), dirs, args.pattern, args.start_index, args.quality,
                args.max_frames, args.short_side) for v, dirs in todo.items()}
    failed: dict[str, str] = {}
    init = (spec, num_styles, args.seed)
    if args.workers <= 1:
        _init_worker(*init)
        for video, job in tqdm(jobs.items(), desc="stylize", unit="video"):
            try:
                stylize_one(*job)
            except StaticDynError as exc:
                failed[video] = str(exc)
    else:
        with ProcessPoolExecutor(args.workers, initializer=_init_worker, initargs=init) as pool:
            futures = {pool.submit(stylize_one, *job): v for v, job in jobs.items()}
            for fut in tqdm(as_completed(futures), total=len(futures), desc="stylize",
                            unit="video"):
                try:
                    fut.result()
                except StaticDynError as exc:
                    failed[futures[fut]] = str(exc)
    for video, reason in failed.items():
        log.warning("skipped %s: %s", video, reason)
    log.info("done: %d stylized, %d failed", len(jobs) - len(failed), len(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
