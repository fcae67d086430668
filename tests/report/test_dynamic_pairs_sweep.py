"""A style and an appearance-free run of one model and seed are two runs."""
from __future__ import annotations

from pathlib import Path

from staticdyn.pipeline import run
from staticdyn.report.aggregate import collect_runs
from tests.helpers.configs import make_cfg


def test_both_variants_are_finished_runs(tmp_path: Path) -> None:
    base = ["model=toy3d", "probe.n_pairs=8", "probe.bootstrap=0"]
    run(make_cfg(tmp_path / "sweep" / "0_style", base))
    run(make_cfg(tmp_path / "sweep" / "1_free", [*base, "probe.dynamic_pairs=appearance_free"]))
    result = collect_runs(tmp_path / "sweep")
    print(result.status)
    assert (result.status["status"] == "ok").sum() == 2
    assert sorted(set(result.layerwise["dynamic_pairs"])) == ["appearance_free", "style"]
