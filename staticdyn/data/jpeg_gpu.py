"""A clip's JPEG frames decoded on a CUDA device with nvjpeg (``probe.gpu_decode=true``).

Frame-folder data sets are JPEG decoding bound on a GPU node; nvjpeg decodes a clip's frames
in one batched call (``torchvision.io.decode_jpeg(list, device="cuda")``). The decoded frames
come back to the CPU as the same RGB uint8 (H, W, 3) arrays the CPU reader gives, so the clip
transform (METHOD.md section 1: pick, /255, normalise, resize, crop) is unchanged.

Off by default because the pixels may differ: the CPU path is OpenCV's ``imdecode`` (its
bundled libjpeg-turbo: integer slow IDCT, "fancy" triangular chroma upsampling, EXIF
orientation applied); nvjpeg has its own IDCT and chroma upsampling and colour conversion
rounding, so 4:2:0 JPEGs can differ by a few levels at colour edges. (torchvision's CPU decoder
is also libjpeg-turbo and gives OpenCV's pixels exactly.) Whatever nvjpeg cannot do as the CPU
reader does goes to the CPU reader instead, said once per process: no CUDA, a file that is not
a JPEG (PNG frames), a JPEG with EXIF data (nvjpeg does not apply the orientation), or a batch
nvjpeg refuses (CMYK, progressive variants it does not support).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from staticdyn.errors import VideoReadError

__all__ = ["GpuJpegDecoder", "has_exif", "is_jpeg"]

log = logging.getLogger(__name__)

_JPEG_SUFFIXES = (".jpg", ".jpeg")
_SAID: set[str] = set()  # fallback reasons already logged in this process


def _say_once(reason: str) -> None:
    if reason not in _SAID:
        _SAID.add(reason)
        log.info("probe.gpu_decode: %s; those frames are decoded on the CPU", reason)


def is_jpeg(path: Path, data: bytes) -> bool:
    return path.suffix.lower() in _JPEG_SUFFIXES and data.startswith(b"\xff\xd8")


def has_exif(data: bytes) -> bool:
    """Whether the JPEG has an EXIF (APP1) segment before its image data.

    OpenCV applies an EXIF orientation, nvjpeg does not: such files stay on the CPU path.
    """
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: no more metadata segments
            return False
        length = int.from_bytes(data[i + 2:i + 4], "big")
        if marker == 0xE1 and data[i + 4:i + 10] == b"Exif\x00\x00":
            return True
        i += 2 + length
    return False


def _nvjpeg(datas: list[bytes], device: torch.device) -> list[np.ndarray]:
    from torchvision.io import ImageReadMode, decode_jpeg

    tensors = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision 0.29 marks its image decoders deprecated
        decoded = decode_jpeg(tensors, mode=ImageReadMode.RGB, device=device)
    shapes = {tuple(t.shape) for t in decoded}
    if len(shapes) == 1:  # one copy back for the whole clip
        stacked = torch.stack(decoded).permute(0, 2, 3, 1).cpu().numpy()
        return list(stacked)
    return [t.permute(1, 2, 0).cpu().numpy() for t in decoded]


class GpuJpegDecoder:
    """Decodes the frames of one read in one nvjpeg batch, the rest with ``cpu_decode``.

    ``cpu_decode(path, data)`` is the CPU reader (the same checks and pixels as
    ``frames.read_image``); ``batch_decode(datas, device)`` is nvjpeg, replaceable in tests.
    """

    def __init__(self, device: torch.device, cpu_decode: Callable[[Path, bytes], np.ndarray],
                 batch_decode: Callable[[list[bytes], torch.device], list[np.ndarray]] = _nvjpeg):
        self.device, self.cpu_decode, self.batch_decode = device, cpu_decode, batch_decode

    @staticmethod
    def available(device: torch.device) -> bool:
        """CUDA there to decode on (else the caller keeps the CPU reader, said once)."""
        if device.type != "cuda" or not torch.cuda.is_available():
            _say_once(f"device '{device}' is not an available CUDA device")
            return False
        return True

    def decode(self, paths: Sequence[Path], datas: Sequence[bytes]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(paths)
        gpu: list[int] = []
        for k, (path, data) in enumerate(zip(paths, datas, strict=True)):
            if not is_jpeg(path, data):
                _say_once(f"{path.name} is not a JPEG")
            elif has_exif(data):
                _say_once(f"{path.name} has EXIF data (its orientation is applied on the CPU)")
            else:
                if not data[-64:].rstrip(b"\x00\r\n \t").endswith(b"\xff\xd9"):
                    raise VideoReadError(f"corrupt or truncated JPEG {path}")
                gpu.append(k)
                continue
            out[k] = self.cpu_decode(path, data)
        if gpu:
            try:
                frames = self.batch_decode([datas[k] for k in gpu], self.device)
            except RuntimeError as exc:  # nvjpeg refuses the batch: the CPU reader decides
                _say_once(f"nvjpeg refused a batch ({str(exc).splitlines()[0][:80]})")
                frames = [self.cpu_decode(paths[k], datas[k]) for k in gpu]
            for k, frame in zip(gpu, frames, strict=True):
                out[k] = frame
        return [f for f in out if f is not None]
