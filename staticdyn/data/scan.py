"""The data set's index, built before pairs are drawn: per video and style, readable or not,
frame count and frame size.

Why before sampling: a pair drawn on an unreadable file is a pair the run cannot deliver. With
the index, pairs are drawn from readable videos only (so a run gives exactly ``probe.n_pairs``),
every bad file is named in ``skipped.csv`` before the first forward, and the index's
fingerprint joins the run's identity, so a resumed run is refused when the data set changed.

The scan reads as little as a source allows (``VideoSource.scan_entry``: a frame count and one
frame). Files are scanned once per path (the styles of a video file share it), in a process
pool when there is more than a handful, and the results are cached keyed by path, size and
mtime: an unchanged file is never probed again, a touched or rewritten one is. Generated
sources (``path_of`` is None) have nothing on disk that can go bad and are not scanned.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from staticdyn.data.source import VideoSource

CACHE_VERSION = 1
INLINE_BELOW = 8  # fewer files than this are scanned in-process: a pool costs more to start
READ_ERRORS: tuple[type[BaseException], ...] = (OSError, ValueError, EOFError, RuntimeError)


@dataclass(frozen=True)
class Entry:
    """One file (or frame folder) as the scan found it."""

    key: str  # size and mtime: the cache entry is valid while this is unchanged
    readable: bool
    frames: int = 0
    height: int = 0
    width: int = 0
    reason: str = ""


@dataclass
class DataIndex:
    """The scan of one source: ``entries[(video, style)]`` (absent for generated videos)."""

    videos: list[str]
    num_styles: int
    paths: dict[tuple[str, int], str]
    entries: dict[str, Entry]  # by path

    @property
    def generated(self) -> bool:
        return not self.paths

    def entry(self, video: str, style: int) -> Entry | None:
        path = self.paths.get((video, style))
        return None if path is None else self.entries[path]

    def readable_videos(self) -> list[str]:
        """Videos readable in every style, in source order (a pair may use any two styles)."""
        return [v for v in self.videos if all(
            (e := self.entry(v, s)) is None or e.readable for s in range(self.num_styles))]

    def unreadable(self, style_names: Sequence[str]) -> list[tuple[str, str, str]]:
        """(path, style, reason) of each bad file once; ``all styles`` when they share it."""
        out: list[tuple[str, str, str]] = []
        seen: set[str] = set()
        for video in self.videos:
            for s in range(self.num_styles):
                path = self.paths.get((video, s))
                if path is None or path in seen or self.entries[path].readable:
                    continue
                seen.add(path)
                shared = sum(self.paths.get((video, k)) == path
                             for k in range(self.num_styles)) > 1
                out.append((path, "all styles" if shared else style_names[s],
                            self.entries[path].reason))
        return out

    def fingerprint(self) -> str:
        """Videos, frame counts, frame and file sizes in one line: part of the run's identity,
        readable in the one-line refusal when a resumed run finds the data set changed.

        Not the mtimes: a data set copied to a node's scratch disk (new mtimes, same files)
        resumes; a file whose size, frame count or frame size changed does not."""
        h = hashlib.sha1()
        for video in self.videos:
            h.update(video.encode() + b"\0")
            for s in range(self.num_styles):
                path = self.paths.get((video, s))
                if path is not None:
                    e = self.entries[path]
                    files = e.key.rsplit(":", 1)[0]  # count and bytes, not mtime
                    h.update(f"{s}:{files}:{e.readable}:{e.frames}:{e.height}x{e.width}\0"
                             .encode())
        if self.generated:
            return f"{len(self.videos)} generated videos; sha1 {h.hexdigest()[:12]}"
        files = list(self.entries.values())
        return (f"{len(self.videos)} videos ({len(self.readable_videos())} readable), "
                f"{sum(e.frames for e in files)} frames, "
                f"{sum(int(e.key.split(':')[-2]) for e in files)} bytes; "
                f"sha1 {h.hexdigest()[:12]}")


def file_key(path: str) -> str:
    """``n:size:mtime_ns`` of a file, or of a folder's files (a frame folder changes when any
    frame is added, removed or rewritten); ``missing`` when it does not exist."""
    try:
        if os.path.isdir(path):
            n = size = mtime = 0
            with os.scandir(path) as it:
                for e in it:
                    if e.is_file():
                        st = e.stat()
                        n, size, mtime = n + 1, size + st.st_size, max(mtime, st.st_mtime_ns)
            return f"{n}:{size}:{mtime}"
        st = os.stat(path)
        return f"1:{st.st_size}:{st.st_mtime_ns}"
    except OSError:
        return "0:0:missing"


_WORKER_SOURCE: VideoSource | None = None


def _init_worker(source: VideoSource) -> None:
    global _WORKER_SOURCE
    _WORKER_SOURCE = source


def probe_entry(source: VideoSource, video: str, style: int, key: str) -> Entry:
    """Scan one file: readable with its frame count and size, or the reason it is not."""
    from staticdyn.errors import VideoReadError

    try:
        n, h, w = source.scan_entry(video, style)
    except (VideoReadError, *READ_ERRORS) as exc:
        return Entry(key, False, reason=f"{type(exc).__name__}: {exc}".splitlines()[0])
    return Entry(key, True, n, h, w)


def _probe_in_worker(job: tuple[str, int, str]) -> Entry:
    assert _WORKER_SOURCE is not None
    return probe_entry(_WORKER_SOURCE, *job)


def load_cache(path: Path | None, settings: str) -> dict[str, Entry]:
    """The cached entries when ``path`` holds a cache made with the same source settings."""
    if path is None or not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
        if data.get("version") != CACHE_VERSION or data.get("settings") != settings:
            return {}
        return {p: Entry(**e) for p, e in data["entries"].items()}
    except (OSError, ValueError, TypeError, KeyError):
        return {}  # a damaged cache is rebuilt


def save_cache(path: Path, index: DataIndex, settings: str) -> None:
    """Write the cache atomically (a killed run never leaves half a file)."""
    data = {"version": CACHE_VERSION, "settings": settings,
            "entries": {p: e.__dict__ for p, e in index.entries.items()}}
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=0, sort_keys=True))
    os.replace(tmp, path)


def scan_source(
    source: VideoSource, cache: Path | None = None, settings: str = "",
    progress: bool = True, workers: int | None = None,
) -> DataIndex:
    """The index of ``source``, reusing ``cache`` entries whose file is unchanged.

    ``settings`` names what the scan's results depend on besides the files (the dataset
    config: ``max_frames``, ``short_side``...); a cache made with other settings is ignored.
    ``workers``: processes for the files to probe (default: the visible cores; 1 = in this
    process).
    """
    videos = list(source.videos)
    paths: dict[tuple[str, int], str] = {}
    first: dict[str, tuple[str, int]] = {}
    for video in videos:
        for style in range(source.num_styles):
            path = source.path_of(video, style)
            if path is not None:
                paths[(video, style)] = path
                first.setdefault(path, (video, style))
    index = DataIndex(videos, source.num_styles, paths, {})
    if not paths:
        return index
    cached = load_cache(cache, settings)
    jobs: list[tuple[str, int, str]] = []
    for path, (video, style) in first.items():
        key = file_key(path)
        hit = cached.get(path)
        if hit is not None and hit.key == key:
            index.entries[path] = hit
        else:
            jobs.append((video, style, key))
    for (video, style, _), entry in zip(jobs, _probe_all(source, jobs, progress, workers),
                                        strict=True):
        index.entries[paths[(video, style)]] = entry
    return index


def _probe_all(source: VideoSource, jobs: list[tuple[str, int, str]], progress: bool,
               workers: int | None) -> Iterable[Entry]:
    workers = workers or min(len(os.sched_getaffinity(0)), 8)
    bar = tqdm(total=len(jobs), unit="file", desc="scan data", disable=not progress or not jobs,
               dynamic_ncols=True)
    if workers <= 1 or len(jobs) < INLINE_BELOW or "fork" not in \
            multiprocessing.get_all_start_methods():
        for job in jobs:
            yield probe_entry(source, *job)
            bar.update()
    else:
        # processes, not threads: sources keep unlocked caches (OrderedDicts of decoded
        # frames and container indexes) that threads would share. Fork: the source is
        # inherited, never pickled per file. Measured on a busy 2-core machine, 32 mp4 files
        # of 64 frames at 128 px: 9.7-12.2 ms a file in one process, 8.9-10.0 ms with two.
        ctx = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(source,)) as pool:
            for entry in pool.map(_probe_in_worker, jobs, chunksize=4):
                yield entry
                bar.update()
    bar.close()


def pairs_hash(rows: Iterable[Sequence[object]]) -> str:
    """sha1 of a pair list's rows (part of a run's identity: a resume continues the same
    pairs or is refused)."""
    h = hashlib.sha1()
    for row in rows:
        h.update(("|".join(map(str, row)) + "\n").encode())
    return h.hexdigest()[:16]


def settings_key(dataset: Mapping[str, object]) -> str:
    """The cache's settings line: the dataset config, sorted."""
    return json.dumps({k: str(v) for k, v in dataset.items()}, sort_keys=True)


class ReadableSubset(VideoSource):
    """``source`` restricted to ``videos`` (the readable ones), for drawing pairs: reading
    goes to the source itself, so features do not depend on the view."""

    def __init__(self, source: VideoSource, videos: list[str]):
        self.source = source
        self._videos = videos
        self.name = source.name

    @property
    def videos(self) -> list[str]:
        return self._videos

    @property
    def num_styles(self) -> int:
        return self.source.num_styles

    @property
    def style_names(self) -> list[str]:
        return self.source.style_names

    def read(self, video: str, style: int):  # noqa: ANN201 - the source's own array type
        return self.source.read(video, style)

    def frame_count(self, video: str, style: int) -> int:
        return self.source.frame_count(video, style)

    def read_frames(self, video: str, style: int, indices: Sequence[int]):  # noqa: ANN201
        return self.source.read_frames(video, style, indices)

    def label(self, video: str) -> int | None:
        return self.source.label(video)
