"""Each paper-figure builder writes a non-empty image on a small fabricated sweep, or skips."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from staticdyn.report.aggregate import SweepResult, collect_runs
from staticdyn.report.paper_figures import BUILDERS, FigureInputs, build_paper_figures
from staticdyn.report.runs import UNKNOWN, card_facts, read_card_facts
from staticdyn.report.selection import card_value, group_panels, split_layer
from tests.helpers.fabricate import STAGES, make_run, make_sweep


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


def test_selection_groups_by_the_cards_the_runs_recorded(sweep: SweepResult,
                                                          tmp_path: Path) -> None:
    facts = FigureInputs.from_sweep(sweep, tmp_path).facts
    assert facts["slowfast_r50"]["arch_group"] == "SlowFast"
    assert facts["mvit_base_16x4"]["arch_group"] == "Transformer"
    assert facts["x3d_xs"]["arch_group"] == "3D CNN"
    assert facts["slow_r50"]["pathway_kind"] == "SlowOnly"
    assert facts["fast_r50"]["pathway_kind"] == "FastOnly"
    assert facts["slowfast_r50"]["pathway_kind"] is None
    models = pd.Series(["x3d_xs", "mvit_base_16x4", "slowfast_r50", "not_run"])
    assert list(card_value(models, facts, "arch_group")) == [
        "3D CNN", "Transformer", "SlowFast", UNKNOWN]
    assert group_panels(pd.Series(["Transformer", UNKNOWN, "RNN", "3D CNN"])) == [
        "3D CNN", "Transformer", "RNN", UNKNOWN]


def test_a_card_key_wins_over_the_model_name(tmp_path: Path) -> None:
    """A run whose config says Transformer is grouped there, whatever its name suggests."""
    make_run(tmp_path / "runs" / "a", STAGES, "my_slowfast_net", "stylized_anet",
             card={"arch_group": "Transformer", "pathway_kind": None})
    make_run(tmp_path / "runs" / "b", STAGES, "fast_track", "stylized_anet",
             card={"arch_group": "3D CNN", "pathway_kind": "SlowOnly"})
    inp = FigureInputs.from_sweep(collect_runs(tmp_path / "runs"), tmp_path / "out", ("png",))
    assert inp.facts["my_slowfast_net"] == {"arch_group": "Transformer", "pathway_kind": None}
    assert inp.facts["fast_track"]["pathway_kind"] == "SlowOnly"
    assert group_panels(card_value(inp.layerwise["model"], inp.facts, "arch_group")) == [
        "3D CNN", "Transformer"]
    assert BUILDERS["fig5_left"](inp)  # drawn from the card's SlowOnly, not the name


def test_a_run_without_card_keys_is_unknown_with_a_warning(tmp_path: Path, caplog) -> None:  # noqa: ANN001
    """Runs written before the cards carried the keys: never guessed from the name."""
    run = make_run(tmp_path / "runs" / "old", STAGES, "slowfast_r50", "stylized_anet", card={})
    sweep = collect_runs(tmp_path / "runs")
    with caplog.at_level(logging.WARNING, logger="staticdyn.report"):
        inp = FigureInputs.from_sweep(sweep, tmp_path / "out", ("png",))
    assert inp.facts["slowfast_r50"] == {"arch_group": UNKNOWN, "pathway_kind": UNKNOWN}
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1 and str(run) in warned[0] and "model.arch_group" in warned[0]
    assert BUILDERS["fig3_left"](inp)  # drawn, in an "unknown" panel
    assert BUILDERS["fig5_left"](inp) == []  # not taken for SlowOnly/FastOnly


def test_card_facts_from_features_h5_without_hydra(tmp_path: Path) -> None:
    """A run made without Hydra (Python API) keeps its config in features.h5 only."""
    run = make_run(tmp_path / "api", STAGES, "net", "synthetic", hydra=False,
                   card={"arch_group": "SlowFast", "pathway_kind": None})
    assert not (run / ".hydra").exists()
    assert read_card_facts(run) == {"arch_group": "SlowFast", "pathway_kind": None}


def test_card_facts_of_a_flat_config() -> None:
    assert card_facts({"model.arch_group": "SlowFast", "model.pathway_kind": None}) == {
        "arch_group": "SlowFast", "pathway_kind": None}
    assert card_facts({"model.name": "x"}) == {"arch_group": UNKNOWN, "pathway_kind": UNKNOWN}


def test_split_layer() -> None:
    assert split_layer("slow.stage3") == ("slow", "stage3")
    assert split_layer("fusion.layer5") == ("fusion", "layer5")
    assert split_layer("blocks.3") == ("", "blocks.3")


def test_figures_entry_end_to_end(sweep: SweepResult, tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from staticdyn.experiments.figures import main

    out = tmp_path / "paper"
    assert main([str(sweep.root), "--out", str(out), "--only", "fig3_left,fig7",
                 "--formats", "png"]) == 0
    printed = capsys.readouterr().out
    assert "14 runs under" in printed and "fig7:" in printed  # 13 + the VIS run
    assert (out / "fig3_left_layerwise.png").is_file() and (out / "runs_status.csv").is_file()
    assert main([str(tmp_path / "missing")]) == 2
    assert main([str(sweep.root), "--only", "nope"]) == 2
    assert main([]) == 2
    err = capsys.readouterr().err
    assert "not a directory" in err and "unknown figure 'nope'" in err and "SWEEP_DIR" in err
