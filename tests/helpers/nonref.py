"""How many frames ``decode_frames`` must decode, worked out independently of it.

A decoder told to skip every non-reference frame (``skip_frame=NONREF``, the whole file)
outputs exactly the frames other frames refer to. From the keyframe at or before the first
wanted frame to the last wanted one, ``decode_frames`` has to decode those and the wanted
frames, and nothing else: the exact count its tests expect.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from staticdyn.data.video_decode import VideoIndex


def referenced_frames(path: Path, index: VideoIndex) -> set[int]:
    """Numbers (ranks in ``index.pts``) of the frames some other frame refers to."""
    assert index.pts is not None
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.skip_frame = "NONREF"
        return {int(np.searchsorted(index.pts, frame.pts)) for frame in container.decode(stream)}


def frames_to_decode(path: Path, index: VideoIndex, wanted: np.ndarray) -> int:
    """Frames from the keyframe before ``wanted[0]`` to ``wanted[-1]`` that are referenced
    or wanted."""
    start = max(rank for rank, _ in index.keyframes if rank <= wanted[0])
    needed = referenced_frames(path, index) | {int(i) for i in wanted}
    return sum(1 for i in range(start, int(wanted[-1]) + 1) if i in needed)
