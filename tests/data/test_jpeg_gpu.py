"""probe.gpu_decode: a clip's JPEGs in one nvjpeg batch, the CPU reader for everything else.

No test machine has CUDA, so nvjpeg itself is stood in for by torchvision's CPU JPEG decoder
(the same libjpeg-turbo as OpenCV: identical pixels); what is tested is the routing (which
frames go to the batch, which to the CPU reader), the fallbacks, and that the CPU path and the
features are unchanged.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from staticdyn.data import jpeg_gpu
from staticdyn.data.frames import FrameFolderSource, decode_image, read_image, write_frame_folder
from staticdyn.data.jpeg_gpu import GpuJpegDecoder, has_exif
from staticdyn.data.synthetic import SyntheticSource
from staticdyn.errors import VideoReadError
from staticdyn.pipeline import run
from tests.helpers.configs import make_cfg


def _frames(n: int = 6, size: int = 24) -> np.ndarray:
    rng = np.random.default_rng(0)
    return cv2.GaussianBlur(rng.integers(0, 256, (n * size, size, 3), dtype=np.uint8), (5, 5),
                            0).reshape(n, size, size, 3)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for k in range(2):
        write_frame_folder(tmp_path / f"style_{k}" / "a", _frames())
    return tmp_path


def _cpu_batch(calls: list[int]):
    """nvjpeg's stand-in: torchvision's batched decoder on the CPU, counting what it gets."""
    from torchvision.io import ImageReadMode, decode_jpeg

    def decode(datas: list[bytes], device: torch.device) -> list[np.ndarray]:
        calls.append(len(datas))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = decode_jpeg([torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas],
                              mode=ImageReadMode.RGB)
        return [t.permute(1, 2, 0).numpy() for t in out]

    return decode


def _with_exif(data: bytes) -> bytes:
    app1 = b"Exif\x00\x00" + b"II*\x00\x08\x00\x00\x00" + b"\x00" * 6
    return data[:2] + b"\xff\xe1" + (len(app1) + 2).to_bytes(2, "big") + app1 + data[2:]


def test_without_cuda_the_cpu_reader_stays_and_says_so_once(folder: Path, caplog) -> None:
    jpeg_gpu._SAID.clear()
    src = FrameFolderSource(folder)
    expected = src.read("a", 1)[[0, 2, 5]]
    with caplog.at_level(logging.INFO, logger="staticdyn.data.jpeg_gpu"):
        src.use_gpu_decode(torch.device("cuda"))
        src.use_gpu_decode(torch.device("cuda"))
    assert "_gpu" not in src.__dict__ or torch.cuda.is_available()
    lines = [r.message for r in caplog.records if "gpu_decode" in r.message]
    assert len(lines) == 1 and "not an available CUDA device" in lines[0]
    assert "\n" not in lines[0]
    if not torch.cuda.is_available():
        assert np.array_equal(src.read_frames("a", 1, [0, 2, 5]), expected)


def test_the_cpu_path_is_unchanged(folder: Path) -> None:
    src = FrameFolderSource(folder)
    files = sorted((folder / "style_0" / "a").iterdir())
    for f in files:
        ref = cv2.cvtColor(cv2.imdecode(np.fromfile(f, np.uint8), cv2.IMREAD_COLOR),
                           cv2.COLOR_BGR2RGB)
        assert np.array_equal(read_image(f), ref)
        assert np.array_equal(decode_image(f, f.read_bytes()), ref)
    assert np.array_equal(src.read_frames("a", 0, [1, 3]), src.read("a", 0)[[1, 3]])


def test_a_clip_is_one_batch_and_gives_the_cpu_pixels(folder: Path) -> None:
    src = FrameFolderSource(folder)
    calls: list[int] = []
    src.__dict__["_gpu"] = GpuJpegDecoder(torch.device("cuda"), decode_image, _cpu_batch(calls))
    got = src.read_frames("a", 0, [0, 1, 4, 5])
    assert calls == [4]  # one batched call for the clip's four frames
    assert np.array_equal(got, FrameFolderSource(folder).read("a", 0)[[0, 1, 4, 5]])
    assert src.frames_decoded == 4


def test_non_jpeg_and_exif_files_go_to_the_cpu(tmp_path: Path, caplog) -> None:
    jpeg_gpu._SAID.clear()
    frames = _frames(3)
    write_frame_folder(tmp_path, frames[:1], pattern="f_%d.png", start_index=0)
    png = tmp_path / "f_0.png"
    write_frame_folder(tmp_path, frames[1:], pattern="f_%d.jpg", start_index=1)
    exif = tmp_path / "f_2.jpg"
    exif.write_bytes(_with_exif(exif.read_bytes()))
    assert has_exif(exif.read_bytes()) and not has_exif((tmp_path / "f_1.jpg").read_bytes())
    paths = [png, tmp_path / "f_1.jpg", exif]
    cpu_calls: list[Path] = []

    def cpu(path: Path, data: bytes) -> np.ndarray:
        cpu_calls.append(path)
        return decode_image(path, data)

    calls: list[int] = []
    dec = GpuJpegDecoder(torch.device("cuda"), cpu, _cpu_batch(calls))
    with caplog.at_level(logging.INFO, logger="staticdyn.data.jpeg_gpu"):
        out = dec.decode(paths, [p.read_bytes() for p in paths])
    assert calls == [1] and cpu_calls == [png, exif]
    for p, frame in zip(paths, out, strict=True):
        assert np.array_equal(frame, read_image(p))
    said = [r.message for r in caplog.records]
    assert any("not a JPEG" in m for m in said) and any("EXIF" in m for m in said)


def test_a_refused_batch_is_decoded_on_the_cpu_and_a_truncated_jpeg_is_an_error(
        folder: Path) -> None:
    jpeg_gpu._SAID.clear()
    files = sorted((folder / "style_0" / "a").iterdir())[:2]

    def refuse(datas: list[bytes], device: torch.device) -> list[np.ndarray]:
        raise RuntimeError("nvjpeg: unsupported sampling")

    dec = GpuJpegDecoder(torch.device("cuda"), decode_image, refuse)
    out = dec.decode(files, [f.read_bytes() for f in files])
    assert all(np.array_equal(o, read_image(f)) for o, f in zip(out, files, strict=True))
    data = files[0].read_bytes()
    with pytest.raises(VideoReadError, match="truncated JPEG"):
        dec.decode(files[:1], [data[: len(data) // 2]])


def test_gpu_decode_on_a_cpu_machine_gives_the_same_features(tmp_path: Path, caplog) -> None:
    jpeg_gpu._SAID.clear()
    root = SyntheticSource(n_videos=6, num_frames=16, size=32, num_styles=3,
                           seed=0).write_layout(tmp_path / "frames")
    over = ["model=toy3d", "model.clip.crop=32", "model.clip.short_side=32", "probe.n_pairs=8",
            "probe.batch_size=6", "probe.bootstrap=0", "probe.num_workers=0"]
    feats = []
    for name, flag in (("cpu", "false"), ("gpu", "true")):
        cfg = make_cfg(tmp_path / name, [*over, f"probe.gpu_decode={flag}"])
        cfg.dataset = {"_target_": "staticdyn.data.frames.FrameFolderSource", "name": "ff",
                       "root": str(root)}
        with caplog.at_level(logging.INFO):
            res = run(cfg)
        with h5py.File(res["features"]) as f:
            feats.append({k: f["features"][k]["a"][:] for k in f["features"]})
    for k in feats[0]:
        assert np.array_equal(feats[0][k], feats[1][k]), k
    if not torch.cuda.is_available():
        assert any("probe.gpu_decode" in r.message for r in caplog.records)
