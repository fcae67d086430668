"""Sweep aggregation over fabricated run dirs: missing, failed, duplicate and partial runs."""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.report.aggregate import (
    collect_runs,
    format_status,
    seed_summary,
    write_sweep_tables,
)
from staticdyn.report.runs import INFO_COLUMNS
from tests.helpers.fabricate import make_run, write_features_h5

LAYERS = {"stage1": 6, "stage2": 8}


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only for the tests below (collect_runs never writes into a sweep)."""
    root = tmp_path_factory.mktemp("sweep")
    make_run(root / "a" / "seed0", LAYERS, "slow_r50", "anet", seed=0)
    make_run(root / "a" / "seed1", LAYERS, "slow_r50", "anet", seed=1)
    old = make_run(root / "old_copy" / "seed0", LAYERS, "slow_r50", "anet", seed=0)
    for p in old.iterdir():
        os.utime(p, (1_000_000, 1_000_000))  # older than a/seed0: the duplicate to drop
    make_run(root / "killed", LAYERS, "x3d_xs", "anet", complete=False)
    crashed = make_run(root / "crashed", LAYERS, "i3d_r50", "anet", complete=False)
    (crashed / "run.log").write_text("[2024-01-01 00:00:00,000][staticdyn][ERROR] - boom\n")
    # Crashed once, resumed to the end: the complete marker wins over the old log line.
    resumed = make_run(root / "resumed", LAYERS, "r2plus1d_r50", "anet")
    (resumed / "run.log").write_text("[2024-01-01 00:00:00,000][staticdyn][ERROR] - oom\n")
    # A finished features file whose tables were never written: analysed on the fly.
    make_run(root / "h5only", LAYERS, "c2d_r50", "anet", report=False)
    # Hydra multirun job that died before writing anything, reported by submitit.
    multi = root / "multirun" / "2024-01-01"
    (multi / "3_mvit_anet_seed0" / ".hydra").mkdir(parents=True)
    (multi / "3_mvit_anet_seed0" / ".hydra" / "config.yaml").write_text(
        "model: {name: mvit}\ndataset: {name: anet}\nprobe: {seed: 0}\n")
    for job in ("77_3", "77_9"):
        folder = multi / ".submitit" / job
        folder.mkdir(parents=True)
        with (folder / f"{job}_0_result.pkl").open("wb") as fh:
            pickle.dump(("error", "Traceback (most recent call last):\nRuntimeError: CUDA OOM"),
                        fh)
    return root


def _status(result) -> dict[str, tuple[str, str]]:  # noqa: ANN001
    return {Path(r.run_dir).name if Path(r.run_dir).name != "seed0" else
            f"{Path(r.run_dir).parent.name}/seed0": (r.status, r.reason)
            for r in result.status.itertuples()}


def test_statuses_of_every_kind(sweep: Path) -> None:
    result = collect_runs(sweep)
    st = _status(result)
    assert st["a/seed0"][0] == "ok" and st["seed1"][0] == "ok"
    assert st["old_copy/seed0"][0] == "duplicate" and "a/seed0" in st["old_copy/seed0"][1]
    assert st["killed"][0] == "incomplete"
    assert st["crashed"] == ("failed", "run.log: [2024-01-01 00:00:00,000][staticdyn][ERROR]"
                                       " - boom")
    assert st["h5only"][0] == "ok"
    assert st["resumed"][0] == "ok" and "earlier error" in st["resumed"][1]
    assert st["3_mvit_anet_seed0"][0] == "failed" and "CUDA OOM" in st["3_mvit_anet_seed0"][1]
    assert st["77_9"][0] == "failed"  # a submitit job with no run dir is still listed
    assert len(result.status) == 9


def test_tables_hold_only_kept_runs_with_keys(sweep: Path) -> None:
    result = collect_runs(sweep)
    lw = result.layerwise
    assert list(lw.columns[: len(INFO_COLUMNS)]) == INFO_COLUMNS
    runs = set(lw["run_dir"])
    assert runs == {str(sweep / "a" / "seed0"), str(sweep / "a" / "seed1"),
                    str(sweep / "h5only"), str(sweep / "resumed")}
    assert len(lw) == 4 * len(LAYERS) and len(result.unitwise) == 4 * len(LAYERS)
    assert set(lw["model"]) == {"slow_r50", "c2d_r50", "r2plus1d_r50"}
    assert list(lw[lw["run_dir"] == str(sweep / "a" / "seed1")]["layer_index"]) == [0, 1]
    assert set(lw["seed"]) == {"0", "1"}
    assert (lw["lambda"] == "0.5").all() and (lw["estimator"] == "pooled").all()


def test_no_analysis_reports_missing_tables(sweep: Path) -> None:
    result = collect_runs(sweep, analyze_missing=False)
    assert _status(result)["h5only"][0] == "no_results"


def test_status_is_printed_and_written(sweep: Path, tmp_path: Path) -> None:
    result = collect_runs(sweep)
    text = format_status(result)
    assert text.startswith("9 runs under")
    for needle in ("duplicate", "incomplete", "failed", "killed", "crashed", "77_9"):
        assert needle in text, needle
    written = write_sweep_tables(result, tmp_path / "out")
    status = pd.read_csv(written["runs_status.csv"])
    assert len(status) == 9 and (status["status"] != "ok").sum() == 5
    full = pd.read_csv(written["layerwise_all.csv"])
    assert "units" in full.columns and len(full) == 8
    tex = written["layerwise_all.tex"].read_text()
    body = [x for x in tex.splitlines() if x.endswith(r"\\")]
    assert len({len(re.findall(r"(?<!\\)&", x)) for x in body}) == 1
    assert "\\_" in tex and written["layerwise_all.md"].stat().st_size > 0
    seeds = pd.read_csv(written["layerwise_seeds.csv"])
    slow = seeds[seeds["model"] == "slow_r50"]
    assert (slow["n_seeds"] == 2).all() and len(slow) == len(LAYERS)


def test_bootstrap_columns_flow_into_the_tidy_tables(tmp_path: Path) -> None:
    root = tmp_path / "s"
    make_run(root / "r", LAYERS, "slow_r50", "anet")
    plain = collect_runs(root)
    assert "dynamic_pct_lo" not in plain.layerwise.columns
    boot = collect_runs(root, n_boot=30)
    for col in ("dynamic_pct_lo", "dynamic_pct_hi", "static_pct_lo", "residual_pct_hi"):
        assert col in boot.layerwise.columns
    assert {"joint_lo", "joint_hi"} <= set(boot.unitwise.columns)


def test_h5_without_complete_attr_is_incomplete_and_unreadable_h5_fails(tmp_path: Path) -> None:
    root = tmp_path / "s"
    write_features_h5(root / "partial" / "features.h5", LAYERS, complete=False)
    (root / "broken").mkdir(parents=True)
    (root / "broken" / "features.h5").write_text("garbage")
    result = collect_runs(root)
    st = _status(result)
    assert st["partial"][0] == "incomplete"
    assert st["broken"][0] == "incomplete" and "unreadable" in st["broken"][1]
    assert result.layerwise.empty


def test_seed_summary_uses_the_papers_interval() -> None:
    df = pd.DataFrame({
        **{k: "x" for k in ("model", "dataset", "train_dataset", "checkpoint", "task", "sampler",
                            "n_pairs", "clip_start", "dynamic_pairs", "vis_pooling", "estimator",
                            "lambda", "shard")},
        "untrained": False, "layer": "stage1", "layer_index": 0,
        "seed": ["0", "1", "2", "3"], "dynamic_pct": [20.0, 22.0, 24.0, 26.0],
    })
    out = seed_summary(df, ["dynamic_pct"])
    half = 1.96 * pd.Series([20.0, 22.0, 24.0, 26.0]).std(ddof=0) / 2.0
    assert out["dynamic_pct"].iloc[0] == pytest.approx(23.0)
    assert out["dynamic_pct_hi"].iloc[0] == pytest.approx(23.0 + half)
    assert out["n_seeds"].iloc[0] == 4
