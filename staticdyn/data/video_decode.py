"""Decoding video files with PyAV: the whole file, or only the frames a clip needs.

``decode_video`` decodes every frame (the reference). ``scan_video`` demuxes the file without
decoding it and tells how many frames it has, their presentation timestamps and where its
keyframes are; ``decode_frames`` then decodes only from the keyframe before the first wanted
frame to the last wanted frame, never the whole file, and gives the same pixels as
``decode_video(...)[wanted]``. Within that stretch, the packet of a frame the clip does not want
is sent with ``skip_frame=NONREF``: the decoder drops it when no other frame refers to it (the
non-reference B-frames that make up much of a real H.264/HEVC encode), so such frames are never
decoded; decoders that ignore the setting (VP8/VP9) just decode them.

Frames are numbered in the order a full decode outputs them, never by timestamp arithmetic
(frame rate x time): with a variable frame rate, or B-frames, or a stream that does not start at
zero, only the order is reliable. A frame's number is the rank of its presentation timestamp
among every packet's (skipped frames give no output, so output frames cannot be counted). Every
decoded frame's timestamp is checked against that order, and any surprise (a timestamp not in
the index or out of order, a wanted frame missing, a corrupt frame, a decoding error, a seek that
lands elsewhere) falls back to decoding from the start without skipping, which is a full decode
cut short.

Rotation metadata (a portrait phone video stored sideways) is applied after the resize, with
``np.rot90``, so the frame is upright and its pixels are not resampled twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from struct import unpack

import av
import numpy as np

from staticdyn.errors import VideoReadError

__all__ = ["VideoIndex", "decode_frames", "decode_video", "probe_frame_count", "scan_video",
           "stream_video"]

# A container's frame count can be off by a frame or two (edit lists, B-frame priming), so
# "truncated" means more than 2 % (or 2 frames) missing. Containers without a frame count
# (mkv, webm) only give duration x frame rate, an estimate (audio may outlast video, rates may
# vary), so there the decoded count must fall below 75 % of it.
_TRUNCATION_SLACK = 0.02
_ESTIMATE_SLACK = 0.25
_DECODE_ERRORS = (av.FFmpegError, OSError, ValueError, EOFError)


def _target_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    # even sizes: some swscale paths need them, and models never care about one pixel
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


def _matrix_rotation(data: bytes) -> float | None:
    """Counter-clockwise degrees of a DISPLAYMATRIX (libavutil's av_display_rotation_get)."""
    if len(data) < 36:
        return None
    m = [v / 65536.0 for v in unpack("=9i", data[:36])]
    scale0, scale1 = math.hypot(m[0], m[3]), math.hypot(m[1], m[4])
    if scale0 == 0.0 or scale1 == 0.0:
        return None
    return -math.degrees(math.atan2(m[1] / scale1, m[0] / scale0))


def _rotation(frame: av.VideoFrame, stream: av.video.stream.VideoStream) -> int:
    """Quarter turns (counter-clockwise) that make ``frame`` upright.

    PyAV >= 14 gives ``frame.rotation`` (from the frame's display matrix, which FFmpeg 7
    attaches to every decoded frame); older PyAV exposes the frame's side data, and older FFmpeg
    the stream's ``rotate`` tag (clockwise degrees).
    """
    degrees: float | None = getattr(frame, "rotation", None)
    if degrees is None:
        side = getattr(frame, "side_data", None)
        try:
            matrix = side.get("DISPLAYMATRIX") if side is not None else None
            degrees = _matrix_rotation(bytes(matrix)) if matrix is not None else None
        except (TypeError, ValueError, KeyError):
            degrees = None
    if degrees is None:
        tag = stream.metadata.get("rotate")
        degrees = -float(tag) if tag not in (None, "") else 0.0
    return int(round(degrees / 90.0)) % 4


def _to_rgb(frame: av.VideoFrame, size: tuple[int, int], quarter_turns: int) -> np.ndarray:
    rgb = frame.to_ndarray(format="rgb24", width=size[0], height=size[1])
    return np.ascontiguousarray(np.rot90(rgb, quarter_turns)) if quarter_turns else rgb


def _open_video(path: Path) -> tuple[av.container.InputContainer, av.video.stream.VideoStream]:
    container = av.open(str(path))
    if not container.streams.video:
        container.close()
        raise VideoReadError(f"{path}: no video stream")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def probe_frame_count(path: str | Path) -> int | None:
    """Frame count from the container header (no decoding); None when unknown or unreadable."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            n = int(container.streams.video[0].frames)
            return n or None
    except (av.FFmpegError, OSError, ValueError):
        return None


def decode_video(path: str | Path, max_frames: int | None = None,
                 short_side: int | None = None) -> np.ndarray:
    """Decode a video file to RGB uint8 (T, H, W, 3), optionally downscaled and capped.

    Raises ``VideoReadError`` for a missing/corrupt file, a file without a video stream, zero
    decodable frames, a decoding error mid-stream, or fewer frames than the header promises.
    """
    path = Path(path)
    last = max_frames - 1 if max_frames is not None else None
    run = _decode(path, short_side, last, keep=None)
    if not run.frames:
        raise VideoReadError(f"{path}: no decodable frames")
    _check_truncation(path, len(run.frames), run.expected, run.slack, max_frames)
    return np.stack([run.frames[i] for i in range(len(run.frames))])


def stream_video(path: str | Path, visit: Callable[[np.ndarray], None],
                 max_frames: int | None = None, short_side: int | None = None) -> int:
    """Decode the whole video as ``decode_video`` does (same frames, sizes, rotation, errors and
    truncation check) but hand each RGB frame to ``visit`` in order and keep none: statistics
    over a whole video (the palette style's pixel sample) at the memory of one frame.
    Returns the number of frames decoded."""
    path = Path(path)
    last = max_frames - 1 if max_frames is not None else None
    run = _decode(path, short_side, last, keep=None, sink=lambda _, rgb: visit(rgb))
    if not run.decoded:
        raise VideoReadError(f"{path}: no decodable frames")
    _check_truncation(path, run.decoded, run.expected, run.slack, max_frames)
    return run.decoded


def _expected_count(container: av.container.InputContainer,
                    stream: av.video.stream.VideoStream) -> tuple[int, float]:
    """(frame count the header promises or duration x rate estimates, allowed shortfall)."""
    expected = int(stream.frames or 0)
    if expected:
        return expected, _TRUNCATION_SLACK
    if container.duration and stream.average_rate:
        return int(container.duration / 1e6 * float(stream.average_rate)), _ESTIMATE_SLACK
    return 0, _TRUNCATION_SLACK


def _check_truncation(path: Path, decoded: int, expected: int, slack: float,
                      max_frames: int | None) -> None:
    wanted = expected if max_frames is None else min(expected, max_frames)
    if wanted and wanted - decoded > max(2, slack * wanted):
        raise VideoReadError(f"{path}: truncated, decoded {decoded} of {wanted} frames")


@dataclass(frozen=True)
class VideoIndex:
    """What demuxing a file (without decoding) says about its video frames.

    ``count``: the frame count when the header's count and the packets agree (then a full
    decode gives exactly that many), else None (count by decoding). ``pts``: presentation
    timestamps sorted, so frame i of a full decode has ``pts[i]``; None when a packet has no
    timestamp or two share one (then frames can only be numbered by decoding from the start).
    ``keyframes``: (frame index, presentation timestamp) of every keyframe, in frame order.
    Seeking to a keyframe's presentation timestamp lands on it (mp4 and mkv seek by
    presentation time); a demuxer that lands earlier costs a few frames, one that lands later
    is caught by the timestamp check and the clip is decoded from the start.
    """

    count: int | None
    pts: np.ndarray | None
    keyframes: tuple[tuple[int, int], ...]


def scan_video(path: str | Path) -> VideoIndex:
    """Demux every video packet of ``path`` (no decoding): cheap next to decoding."""
    path = Path(path)
    pts: list[int | None] = []
    keys: list[int | None] = []
    damaged = False
    try:
        container, stream = _open_video(path)
        with container:
            header = int(stream.frames or 0)
            try:
                for packet in container.demux(stream):
                    if packet.size == 0 or getattr(packet, "is_discard", False):
                        continue  # the flush packet, or a frame an edit list drops
                    damaged = damaged or bool(getattr(packet, "is_corrupt", False))
                    pts.append(packet.pts)
                    if packet.is_keyframe:
                        keys.append(packet.pts)
            except _DECODE_ERRORS:
                damaged = True
    except VideoReadError:
        raise
    except _DECODE_ERRORS as exc:
        raise VideoReadError(f"cannot decode {path}: {exc}") from exc
    count = header if header and not damaged and len(pts) == header else None
    if not pts or any(p is None for p in pts) or len(set(pts)) != len(pts):
        return VideoIndex(count, None, ())
    order = np.sort(np.asarray(pts, dtype=np.int64))
    rank = {int(p): i for i, p in enumerate(order)}
    keyframes = sorted((rank[int(p)], int(p)) for p in keys if p is not None)
    return VideoIndex(count, order, tuple(keyframes))


def count_frames(path: str | Path, max_frames: int | None = None) -> int:
    """Frames a full decode gives (decoded, not converted): for containers without a count.

    Raises ``VideoReadError`` exactly where ``decode_video`` would (no frames, truncated).
    """
    path = Path(path)
    last = max_frames - 1 if max_frames is not None else None
    run = _decode(path, None, last, keep=frozenset())
    if not run.decoded:
        raise VideoReadError(f"{path}: no decodable frames")
    _check_truncation(path, run.decoded, run.expected, run.slack, max_frames)
    return run.decoded


def decode_frames(path: str | Path, wanted: np.ndarray, index: VideoIndex | None = None,
                  short_side: int | None = None) -> tuple[np.ndarray, int]:
    """Frames ``wanted`` (sorted, distinct) as ``decode_video(path, ...)[wanted]`` gives them.

    When ``index`` numbers the frames by timestamp, seeks to the keyframe at or before the first
    wanted frame, skips the unwanted frames no other frame refers to, and stops after the last
    wanted frame; else (or on any surprise) decodes from the start up to the last wanted frame.
    Returns the frames and how many frames were decoded (skipped ones are not).
    Raises ``VideoReadError`` when the file has fewer frames than the last wanted index.
    """
    path = Path(path)
    if len(wanted) == 0:
        raise ValueError(f"{path}: no frames requested")
    decoded = 0
    if index is not None and index.pts is not None and int(wanted[-1]) < len(index.pts):
        start, seek_ts = 0, None
        for rank, ts in index.keyframes:
            if rank > int(wanted[0]):
                break
            start, seek_ts = rank, ts
        frames, decoded = _decode_from(path, wanted, short_side, start,
                                       seek_ts if start > 0 else None, index.pts)
        if frames is not None:
            return frames, decoded
    frames, n = _decode_from(path, wanted, short_side)
    decoded += n
    if frames is None:
        raise VideoReadError(f"{path}: frame {int(wanted[-1])} requested, "
                             f"the video decodes only {n} frames")
    return frames, decoded


def _decode_from(path: Path, wanted: np.ndarray, short_side: int | None, start: int = 0,
                 seek_ts: int | None = None,
                 pts: np.ndarray | None = None) -> tuple[np.ndarray | None, int]:
    """Decode from frame ``start`` (after seeking to ``seek_ts``; from the beginning when
    None) to the last wanted frame, numbering frames by ``pts`` (skipping unwanted
    non-reference frames) when given. (None, decoded) when the decoder's output does not follow
    the index or a wanted frame is missing (then the caller decodes from the beginning without
    ``pts``) or the stream ends first."""
    want = frozenset(int(i) for i in wanted)
    run = _decode(path, short_side, int(wanted[-1]), want, start, seek_ts, pts)
    if run.failed or len(run.frames) != len(want):
        return None, run.decoded
    return np.stack([run.frames[int(i)] for i in wanted]), run.decoded


@dataclass
class _Decoded:
    """What one pass of the decoder gave: the frames kept (by frame number), how many frames
    it decoded, the count the header promises, and whether it stopped early after a seek
    (a decoding error, or output that does not follow the index)."""

    frames: dict[int, np.ndarray] = field(default_factory=dict)
    decoded: int = 0
    expected: int = 0
    slack: float = _TRUNCATION_SLACK
    failed: bool = False


def _decode(path: Path, short_side: int | None, last: int | None,
            keep: frozenset[int] | None, start: int = 0, seek_ts: int | None = None,
            pts: np.ndarray | None = None,
            sink: Callable[[int, np.ndarray], None] | None = None) -> _Decoded:
    """The one decode loop: frames ``start`` .. ``last`` (the end when None) in decode order,
    converting to RGB those in ``keep`` (every frame when None; none for ``frozenset()``).
    Converted frames are kept in ``frames``, or handed to ``sink(i, rgb)`` and not kept.

    Without ``pts``, frames are numbered by counting, and a decoding error raises
    ``VideoReadError``. With ``pts`` (the index's sorted timestamps; after a seek to
    ``seek_ts`` when given), a frame's number is the rank of its timestamp, the packets of
    frames not in ``keep`` are sent with ``skip_frame=NONREF`` (non-reference frames are then
    not decoded, so numbers have gaps), and any surprise (a timestamp not in ``pts``, out of
    order, a first frame that is not ``start``, a corrupt frame, a decoding error) stops the
    pass with ``failed`` set, so the caller can decode from the start.
    """
    run = _Decoded()
    skip_unless = (None if pts is None or keep is None
                   else frozenset(int(pts[i]) for i in keep))
    try:
        container, stream = _open_video(path)
        with container:
            run.expected, run.slack = _expected_count(container, stream)
            if seek_ts is not None:
                container.seek(seek_ts, stream=stream, backward=True, any_frame=False)
            i = start - 1  # the number of the last frame output
            size: tuple[int, int] | None = None
            for frame in _frames(container, stream, skip_unless):
                run.decoded += 1
                if pts is None:
                    i += 1
                else:
                    if i < start and frame.pts is not None and frame.pts < pts[start]:
                        continue  # a leading frame shown before the keyframe
                    n = _rank(pts, frame.pts)
                    if (n is None or n <= i or i < start < n
                            or getattr(frame, "is_corrupt", False)):
                        run.failed = True
                        return run
                    i = n
                if size is None:  # every frame at the size of the first (as ffmpeg scales)
                    size = _target_size(frame.width, frame.height, short_side)
                if keep is None or i in keep:
                    rgb = _to_rgb(frame, size, _rotation(frame, stream))
                    if sink is None:
                        run.frames[i] = rgb
                    else:
                        sink(i, rgb)
                if last is not None and i >= last:
                    break
    except VideoReadError:
        raise
    except _DECODE_ERRORS as exc:
        if pts is None:
            raise VideoReadError(f"cannot decode {path}: {exc}") from exc
        run.failed = True
    return run


def _frames(container: av.container.InputContainer, stream: av.video.stream.VideoStream,
            skip_unless: frozenset[int] | None) -> Iterator[av.VideoFrame]:
    """The decoder's output frames (``container.decode(stream)``); with ``skip_unless``, each
    packet whose timestamp is not in it is sent with ``skip_frame=NONREF`` (the decoder drops
    it if no frame refers to it), every other packet with ``DEFAULT``. The setting travels
    with the packet, also to frame threads."""
    codec = stream.codec_context
    for packet in container.demux(stream):
        if skip_unless is not None:
            skip = packet.pts is not None and packet.pts not in skip_unless
            codec.skip_frame = "NONREF" if skip else "DEFAULT"
        yield from codec.decode(packet)


def _rank(pts: np.ndarray, ts: int | None) -> int | None:
    """The number of the frame with timestamp ``ts`` (its rank in the sorted ``pts``)."""
    if ts is None:
        return None
    n = int(np.searchsorted(pts, ts))
    return n if n < len(pts) and int(pts[n]) == ts else None
