"""The real command line on a tiny config: outputs, listing layers, bad choices, and refusals
that exit 2 with one line and write nothing."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import h5py
import pandas as pd
import pytest

from staticdyn.metrics.analyze import LAYERWISE_COLUMNS, UNIT_SCORE_COLUMNS, UNITWISE_COLUMNS

ROOT = Path(__file__).resolve().parents[1]
TINY = ("model=toy3d", "dataset=synthetic_tiny", "probe.n_pairs=10", "probe.progress=false")


def _run(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout)


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (``.hydra/`` and the job log included) with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def _refused(proc: subprocess.CompletedProcess, *named: str) -> str:
    """Exit 2, one line on stderr naming ``named``, no traceback; returns that line."""
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-3000:]
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr + proc.stdout
    for text in named:
        assert text in lines[0], (text, lines[0])
    return lines[0]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[Path, subprocess.CompletedProcess]:
    """A finished tiny run (features, tables, .hydra/, run.log) and its process."""
    out = tmp_path_factory.mktemp("finished") / "run"
    proc = _run(*TINY, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


@pytest.fixture
def finished(finished_run: tuple[Path, subprocess.CompletedProcess]) -> Path:
    return finished_run[0]


def test_tiny_run_writes_every_output(finished_run: tuple[Path, subprocess.CompletedProcess]
                                      ) -> None:
    out, proc = finished_run
    for name in ("features.h5", "layerwise.csv", "unitwise.csv", "unit_scores.csv",
                 "summary.md", "layerwise.png", "unitwise.png", "skipped.csv", "run.log",
                 ".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml"):
        assert (out / name).stat().st_size > 0, name
    lw = pd.read_csv(out / "layerwise.csv")  # documented columns first; intervals appended
    assert list(lw.columns[: len(LAYERWISE_COLUMNS)]) == LAYERWISE_COLUMNS
    assert {"dynamic_pct_lo", "dynamic_pct_hi", "estimable"} <= set(lw.columns)
    uw = pd.read_csv(out / "unitwise.csv")
    assert list(uw.columns[: len(UNITWISE_COLUMNS)]) == UNITWISE_COLUMNS
    assert list(pd.read_csv(out / "unit_scores.csv").columns) == UNIT_SCORE_COLUMNS
    assert "UNTRAINED" in proc.stderr + proc.stdout  # said loudly
    assert "stage4" in proc.stdout and str(out / "layerwise.csv") in proc.stdout
    assert "probe.n_pairs=10" in (out / ".hydra" / "overrides.yaml").read_text()
    with h5py.File(out / "features.h5") as f:
        assert f.attrs["model"] == "toy3d" and f.attrs["dataset"] == "synthetic_tiny"
        assert f["pairs/factor"].shape == (10,)
    # the same command again reuses the finished features instead of recomputing them; an
    # integer given as text ("10") is the same setting
    again = _run(*TINY, "probe.n_pairs='10'", f"hydra.run.dir={out}")
    assert again.returncode == 0 and "already complete" in again.stderr + again.stdout


@pytest.mark.parametrize(("args", "named"), [
    (["probe.n_pairs=12"], ["probe.n_pairs", "stored='10' now='12'"]),
    (["probe.lambda=abc"], ["probe.lambda='abc'", "strictly between 0 and 1"]),
    (["probe.estimator=bogus"], ["probe.estimator='bogus'", "pooled, paper"]),
])
def test_a_refused_run_leaves_the_finished_directory_untouched(
        finished: Path, args: list[str], named: list[str]) -> None:
    before = _snapshot(finished)
    assert ".hydra/config.yaml" in before and "run.log" in before
    _refused(_run(*TINY, *args, f"hydra.run.dir={finished}"), *named)
    assert _snapshot(finished) == before


def test_a_held_lock_is_refused_and_nothing_changes(finished: Path) -> None:
    before = _snapshot(finished)
    fd = os.open(finished / "features.h5.lock", os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # another writer
        line = _refused(_run(*TINY, f"hydra.run.dir={finished}"), "features.h5.lock")
        assert "another process is writing" in line
    finally:
        os.close(fd)
    assert _snapshot(finished) == before


def test_a_corrupt_features_file_is_named(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "features.h5").write_bytes(b"not an HDF5 file")
    before = _snapshot(out)
    line = _refused(_run(*TINY, f"hydra.run.dir={out}"), str(out / "features.h5"))
    assert "not a readable HDF5 file" in line and "delete it" in line
    assert _snapshot(out) == before


@pytest.mark.parametrize(("args", "named"), [
    (["probe.lambda=abc"], ["probe.lambda='abc'"]),
    (["probe.lambda=1"], ["probe.lambda=1", "strictly between 0 and 1"]),
    (["probe.estimator=bogus"], ["probe.estimator='bogus'", "pooled, paper"]),
    (["probe.n_pairs=abc"], ["probe.n_pairs='abc'", "an integer >= 4"]),
    (["probe.seeds=[1,1]"], ["probe.seeds=[1, 1]", "distinct"]),
    (["probe.shard=2", "probe.num_shards=2"], ["probe.shard=2", "0..1"]),
    (["+probe.n_pair=10"], ["unknown probe key 'n_pair'", "n_pairs"]),
    (["probe.n_pairs=4", "probe.sampler=authors"], ["probe.n_pairs=4", "3 dynamic and 1 static"]),
    (["dataset=frames"], ["dataset.root is not set"]),
])
def test_a_user_error_exits_2_in_one_line_and_creates_no_directory(
        tmp_path: Path, args: list[str], named: list[str]) -> None:
    out = tmp_path / "new" / "run"
    _refused(_run(*TINY, *args, f"hydra.run.dir={out}"), *named)
    assert not (tmp_path / "new").exists()


def test_a_dataset_root_that_is_a_file_says_so(tmp_path: Path) -> None:
    root = tmp_path / "frames.txt"
    root.write_text("not a folder")
    out = tmp_path / "new" / "run"
    _refused(_run(*TINY, "dataset=frames", f"dataset.root={root}", f"hydra.run.dir={out}"),
             str(root), "is a file, not a folder")
    assert not (tmp_path / "new").exists()


def test_list_layers(tmp_path: Path) -> None:
    proc = _run("model=slowfast_r50", "probe.list_layers=true", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "slow.stage3" in proc.stdout and "blocks.2.multipathway_blocks.0" in proc.stdout


def test_unknown_model_lists_choices(tmp_path: Path) -> None:
    proc = _run("model=resnet_bogus", f"hydra.run.dir={tmp_path}")
    assert proc.returncode != 0
    assert "resnet_bogus" in proc.stderr and "x3d_xs" in proc.stderr


def test_a_changed_video_folder_is_refused_on_resume(tmp_path: Path) -> None:
    """Kill-and-add as a user does it: finish a run on a folder, add a video, rerun in the
    same directory: exit 2, one line saying the data changed, the directory untouched."""
    from tests.data.test_scan import make_bad_folder

    root = make_bad_folder(tmp_path / "videos", n_good=6)
    out = tmp_path / "run"
    args = ("model=toy3d", "model.clip.crop=32", "model.clip.short_side=32",
            "dataset=video_folder", f"dataset.root={root}", "probe.n_pairs=12",
            "probe.progress=false", f"hydra.run.dir={out}")
    first = _run(*args)
    assert first.returncode == 0, first.stderr[-3000:]
    skipped = pd.read_csv(out / "skipped.csv")
    assert sorted(skipped["item"]) == sorted(str(root / f"{n}.mp4")
                                             for n in ("empty", "garbage", "truncated"))
    before = _snapshot(out)
    (root / "good5.mp4").rename(root / "renamed.mp4")
    line = _refused(_run(*args), "data set changed", "data.index")
    assert "6 readable" in line
    assert _snapshot(out) == before
