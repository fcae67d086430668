"""Optical flow: known shifts are recovered; the RGB encoding round-trips."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from staticdyn.data.flow import (
    FLOW_METHODS,
    compute_flow,
    davis_flow_path,
    flow_to_rgb,
    median_flow,
    read_flo,
    read_flow_image,
    rgb_to_flow,
    video_flow,
    write_flo,
)
from staticdyn.data.styles import make_texture
from staticdyn.errors import UnknownChoiceError, VideoReadError


def shifted_pair(dx: int, dy: int, size: int = 96) -> tuple[np.ndarray, np.ndarray]:
    """Two crops of one smooth texture, the second showing its content moved by (dx, dy)."""
    big = make_texture(np.random.default_rng(0), size + 40, size + 40, kind="noise")
    a = big[20:20 + size, 20:20 + size]
    b = big[20 - dy:20 - dy + size, 20 - dx:20 - dx + size]
    return a, b


@pytest.mark.parametrize("method", FLOW_METHODS)
@pytest.mark.parametrize(("dx", "dy"), [(3, -2), (-1, 4), (0, 0)])
def test_known_integer_shift(method: str, dx: int, dy: int) -> None:
    a, b = shifted_pair(dx, dy)
    flow = compute_flow(a, b, method)
    assert flow.shape == (96, 96, 2) and flow.dtype == np.float32
    np.testing.assert_allclose(median_flow(flow, margin=10), [dx, dy], atol=0.1)


def test_video_flow_and_bad_method() -> None:
    a, b = shifted_pair(2, 1)
    flows = video_flow(np.stack([a, b, a]))
    assert flows.shape == (2, 96, 96, 2)
    np.testing.assert_allclose(median_flow(flows[1], margin=10), [-2, -1], atol=0.1)
    assert video_flow(a[None]).shape == (0, 96, 96, 2)
    with pytest.raises(UnknownChoiceError):
        compute_flow(a, b, "raft")


def random_flow(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(0, 3, size=(20, 30, 2)).astype(np.float32)


def test_encoding_round_trip_float_is_exact() -> None:
    flow = random_flow()
    rgb, peak = flow_to_rgb(flow, as_uint8=False)
    assert rgb.dtype == np.float32 and rgb.max() <= 1.0 + 1e-6
    assert peak == pytest.approx(np.linalg.norm(flow, axis=-1).max(), rel=1e-5)
    np.testing.assert_allclose(rgb_to_flow(rgb, peak), flow, atol=1e-3 * peak)


def test_encoding_round_trip_uint8_within_quantisation() -> None:
    flow = random_flow(1)
    rgb, peak = flow_to_rgb(flow)
    assert rgb.dtype == np.uint8
    back = rgb_to_flow(rgb, peak)
    mag = np.linalg.norm(flow, axis=-1)
    # 8-bit channels: saturation to 1/255 of the peak; direction to ~1/255 of a hue sector
    assert np.abs(np.linalg.norm(back, axis=-1) - mag).max() < 2.5 / 255 * peak + 1e-3
    strong = mag > 0.2 * peak
    ang = np.angle(flow[..., 0] + 1j * flow[..., 1])
    ang_back = np.angle(back[..., 0] + 1j * back[..., 1])
    diff = np.abs(np.angle(np.exp(1j * (ang - ang_back))))
    assert np.degrees(diff[strong]).max() < 2.0


def test_encoding_conventions() -> None:
    right = np.zeros((4, 4, 2), np.float32)
    right[..., 0] = 2.0
    rgb, peak = flow_to_rgb(right)
    assert peak == 2.0 and tuple(rgb[0, 0]) == (255, 0, 0)  # hue 0 = +x = red, full saturation
    rgb0, peak0 = flow_to_rgb(np.zeros((4, 4, 2), np.float32))
    assert peak0 == 0.0 and (rgb0 == 255).all()  # no motion = white
    np.testing.assert_array_equal(rgb_to_flow(rgb0, peak0), 0)
    half, _ = flow_to_rgb(right, max_magnitude=4.0)  # fixed normalisation across frames
    np.testing.assert_allclose(rgb_to_flow(half, 4.0), right, atol=0.02)


def test_flo_files_and_flow_images(tmp_path: Path) -> None:
    flow = random_flow(2)
    write_flo(tmp_path / "a.flo", flow)
    np.testing.assert_array_equal(read_flo(tmp_path / "a.flo"), flow)
    (tmp_path / "b.flo").write_bytes((tmp_path / "a.flo").read_bytes()[:100])
    with pytest.raises(VideoReadError, match="truncated"):
        read_flo(tmp_path / "b.flo")
    with pytest.raises(VideoReadError):
        read_flo(tmp_path / "missing.flo")
    with pytest.raises(VideoReadError):
        read_flow_image(tmp_path / "missing.png")
    path = davis_flow_path(tmp_path, "bear", 3)
    assert path == tmp_path / "FlowImages_gap1" / "bear" / "00003.png"
    path.parent.mkdir(parents=True)
    rgb, _ = flow_to_rgb(flow)
    cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    np.testing.assert_array_equal(read_flow_image(path), rgb)
