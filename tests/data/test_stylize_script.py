"""scripts/stylize.py: writes the frame-folder layout, skips failures, resumes."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from staticdyn.data.frames import FrameFolderSource
from staticdyn.data.video_folder import VideoFolderSource

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "stylize.py"


@pytest.fixture(scope="module")
def stylize() -> ModuleType:
    spec = importlib.util.spec_from_file_location("stylize_script", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # worker processes find its functions by module name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def src_dir(tmp_path: Path, video_writer: Callable[..., Path],
            square_clip: Callable[..., np.ndarray]) -> Path:
    src = tmp_path / "src"
    video_writer(src / "a.mp4", square_clip(6, 32, seed=1))
    video_writer(src / "sub" / "b.mp4", square_clip(5, 32, seed=2))
    return src


def test_writes_layout_and_resumes(stylize: ModuleType, src_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert stylize.main([str(src_dir), str(out), "--styles", "3", "--workers", "1"]) == 0
    back = FrameFolderSource(out)
    assert back.videos == ["a", "sub__b"] and back.num_styles == 3
    assert (out / "style_2" / "a" / "frame_00001.jpg").is_file()
    expected = VideoFolderSource(src_dir, num_styles=3).read("sub/b", 1)
    got = back.read("sub__b", 1)
    assert got.shape == expected.shape == (5, 32, 32, 3)
    assert np.abs(got.astype(int) - expected).mean() < 4

    stamp = (out / "style_0" / "a" / "frame_00001.jpg").stat().st_mtime_ns
    for f in (out / "style_1" / "a").iterdir():
        f.unlink()
    (out / "style_1" / "a").rmdir()
    (out / "style_0" / "sub__b.partial").mkdir()  # left over by an interrupted run
    assert stylize.main([str(src_dir), str(out), "--styles", "3", "--workers", "1"]) == 0
    assert (out / "style_1" / "a" / "frame_00006.jpg").is_file()  # redone
    assert (out / "style_0" / "a" / "frame_00001.jpg").stat().st_mtime_ns == stamp  # kept
    assert FrameFolderSource(out).videos == ["a", "sub__b"]


def test_parallel_and_broken_video(stylize: ModuleType, src_dir: Path, tmp_path: Path) -> None:
    (src_dir / "broken.mp4").write_bytes(b"\x00" * 500)
    out = tmp_path / "out"
    code = stylize.main([str(src_dir), str(out), "--styles", "2", "--workers", "2",
                         "--stylizer", "remap", "gradient"])
    assert code == 1  # the broken video is reported, the others are written
    assert sorted(p.name for p in (out / "style_1").iterdir()) == ["a", "sub__b"]
    assert stylize.main([str(tmp_path / "missing"), str(out)]) == 2
