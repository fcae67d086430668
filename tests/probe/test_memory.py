"""Peak memory of a run need not grow with the video's resolution (issue 14: a 4-second 1080p
clip took 11 GB).

Only the frames a clip needs are decoded, and with ``dataset.short_side`` they are decoded at
the size the model resizes to, so a run over 1080p videos stays within 1.5x of the same run
over 256-pixel ones. Decoding at full size (``short_side: null``, the default, whose features
must not change) measured 2.45x here: the clip is normalised in float at full size before the
resize, and the palette style (whole-clip statistics) and texture style hold full-size arrays;
see the h14 report for the lossless fixes those modules need.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

# Runs the probe in a fresh interpreter and prints its peak RSS (KiB, Linux ru_maxrss), the
# process's own and its children's (the scan's process pool) separately.
CHILD = r"""
import json, resource, sys
from tests.helpers.configs import make_cfg
from staticdyn.pipeline import run
out, root = sys.argv[1], sys.argv[2]
cfg = make_cfg(out, ["model=toy3d", "probe.n_pairs=4", "probe.batch_size=3",
                     "probe.bootstrap=0", "probe.num_workers=0", "probe.threads=1"])
cfg.dataset = {"_target_": "staticdyn.data.video_folder.VideoFolderSource", "name": "vf",
               "root": root, "num_styles": 4, "seed": 0, "short_side": 256}
res = run(cfg)
print(json.dumps({"rows": res["rows"],
                  "self": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "children": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def write_clip(path: Path, width: int, height: int, n_frames: int = 40) -> None:
    """A textured gradient sliding right, H.264 (yuv420p) with PyAV."""
    rng = np.random.default_rng(0)
    base = np.clip(np.linspace(0, 255, width)[None, :, None]
                   + rng.integers(-40, 40, (height, 1, 3)), 0, 255).astype(np.uint8)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "ultrafast"}
        for t in range(n_frames):
            frame = np.ascontiguousarray(np.roll(base, 7 * t, axis=1))
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def peak_rss(tmp: Path, width: int, height: int) -> dict:
    root = tmp / f"videos{height}"
    root.mkdir()
    for i in range(2):
        write_clip(root / f"clip{i}.mp4", width, height)
    done = subprocess.run([sys.executable, "-c", CHILD, str(tmp / f"run{height}"), str(root)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_peak_rss_with_short_side_does_not_grow_with_resolution(tmp_path: Path) -> None:
    small = peak_rss(tmp_path, 456, 256)
    large = peak_rss(tmp_path, 1920, 1080)
    assert small["rows"] == large["rows"] == 4
    ratio = large["self"] / small["self"]
    print(f"peak RSS 256p {small['self'] / 1024:.0f} MiB, 1080p {large['self'] / 1024:.0f} MiB "
          f"({ratio:.2f}x); scan workers {small['children'] / 1024:.0f} / "
          f"{large['children'] / 1024:.0f} MiB")
    assert ratio <= 1.5
