"""Each paper-figure builder writes a non-empty image on a small fabricated sweep, or skips."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.report.aggregate import SweepResult, collect_runs
from staticdyn.report.paper_figures import BUILDERS, FigureInputs, build_paper_figures
from staticdyn.report.selection import family, single_pathway_kind, split_layer
from tests.helpers.fabricate import make_sweep

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "make_figures.py"


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> SweepResult:
    return collect_runs(make_sweep(tmp_path_factory.mktemp("sweep")))


@pytest.mark.parametrize("name", list(BUILDERS))
def test_builder_writes_nonempty_files(name: str, sweep: SweepResult, tmp_path: Path) -> None:
    formats = ("png", "pdf") if name == "fig3_left" else ("png",)  # PDF once keeps it fast
    paths = BUILDERS[name](FigureInputs.from_sweep(sweep, tmp_path, formats))
    assert paths, name
    for p in paths:
        assert p.is_file() and p.stat().st_size > (500 if p.suffix in (".png", ".pdf") else 0), p
    suffixes = {p.suffix for p in paths}
    expected = {".csv", ".md", ".tex"} if name == "table1" else {f".{f}" for f in formats}
    assert suffixes == expected


def test_fig4_writes_left_and_right(sweep: SweepResult, tmp_path: Path) -> None:
    names = {p.name for p in BUILDERS["fig4"](FigureInputs.from_sweep(sweep, tmp_path, ("png",)))}
    assert names == {"fig4_left_segmentation.png", "fig4_right_fusion_units.png"}


def test_table1_rows_per_training_dataset(sweep: SweepResult, tmp_path: Path) -> None:
    BUILDERS["table1"](FigureInputs.from_sweep(sweep, tmp_path))
    table = pd.read_csv(tmp_path / "table1_dataset_bias.csv")
    assert list(table["train_dataset"]) == ["davis16", "tao_vos"]
    assert "layer5 static %" in table.columns
    assert table["layer2 dynamic %"].str.contains(r"\[").all()  # two seeds -> an interval


def test_every_builder_skips_cleanly_without_inputs(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    empty = collect_runs(tmp_path)
    with caplog.at_level(logging.INFO, logger="staticdyn.report"):
        out = build_paper_figures(FigureInputs.from_sweep(empty, tmp_path / "out"))
    assert set(out) == set(BUILDERS) and all(v == [] for v in out.values())
    assert caplog.text.count("skipped") == len(BUILDERS)


def test_unknown_figure_name_is_rejected(sweep: SweepResult, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="Valid choices"):
        build_paper_figures(FigureInputs.from_sweep(sweep, tmp_path), only=["fig99"])


def test_selection_rules() -> None:
    assert family("slowfast_r101") == "SlowFast" and family("mvit_base_16x4") == "Transformer"
    assert family("timesformer") == "Transformer" and family("x3d_m") == "3D CNN"
    assert single_pathway_kind("slow_r50") == "SlowOnly"
    assert single_pathway_kind("fast_r50") == "FastOnly"
    assert single_pathway_kind("slowfast_r50") is None
    assert split_layer("slow.stage3") == ("slow", "stage3")
    assert split_layer("fusion.layer5") == ("fusion", "layer5")
    assert split_layer("blocks.3") == ("", "blocks.3")


def test_script_end_to_end(sweep: SweepResult, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    main = runpy.run_path(str(SCRIPT))["main"]
    out = tmp_path / "paper"
    assert main([str(sweep.root), "--out", str(out), "--only", "fig3_left,fig7",
                 "--formats", "png"]) == 0
    printed = capsys.readouterr().out
    assert "13 runs under" in printed and "fig7:" in printed
    assert (out / "fig3_left_layerwise.png").is_file() and (out / "runs_status.csv").is_file()
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(sweep.root), "--only", "nope"]) == 2
