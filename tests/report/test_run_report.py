"""The per-run report: every file, the documented columns, the untrained warning."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from staticdyn.metrics.analyze import (
    LAYERWISE_COLUMNS,
    UNIT_SCORE_COLUMNS,
    UNITWISE_COLUMNS,
    analyze_h5,
)
from staticdyn.report.run_report import format_terminal_summary, write_run_report
from tests.helpers.fabricate import write_features_h5

LAYERS = {"stage1": 8, "stage2": 12, "slow.stage_3": 16}
FILES = ["layerwise.csv", "unitwise.csv", "unit_scores.csv", "summary.md", "layerwise.png",
         "unitwise.png"]


@pytest.fixture
def tables(tmp_path: Path):  # noqa: ANN201
    h5 = write_features_h5(tmp_path / "features.h5", LAYERS, model="slow_r50",
                           dataset="stylized_anet", n=90, untrained=True)
    return analyze_h5(h5)


def test_writes_every_file_with_documented_columns(tables, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "report"
    written = write_run_report(tables, out)
    for name in FILES:
        assert written[name] == out / name
        assert (out / name).stat().st_size > 0, name
    # the documented columns, then the estimable/note columns (no intervals in these tables)
    assert list(pd.read_csv(out / "layerwise.csv").columns) == [*LAYERWISE_COLUMNS, "estimable",
                                                                 "note"]
    assert list(pd.read_csv(out / "unitwise.csv").columns) == [*UNITWISE_COLUMNS, "estimable",
                                                                "note"]
    scores = pd.read_csv(out / "unit_scores.csv")
    assert list(scores.columns) == UNIT_SCORE_COLUMNS
    assert len(scores) == sum(LAYERS.values())
    assert (out / "layerwise.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_names_the_run_and_warns_when_untrained(tables, tmp_path: Path) -> None:  # noqa: ANN001
    write_run_report(tables, tmp_path, title="My run")
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("# My run")
    assert "UNTRAINED (random init)" in text
    for needle in ("slow_r50", "stylized_anet", "pairs: 90", "lambda: 0.5", "estimator: pooled",
                   "| slow.stage_3 |", "| layer | dynamic | static | joint | residual | dead |"):
        assert needle in text, needle


@pytest.mark.parametrize("flag", [False, "False", "0"])
def test_no_warning_for_trained_models(tables, tmp_path: Path, flag) -> None:  # noqa: ANN001
    tables.meta["untrained"] = flag
    write_run_report(tables, tmp_path)
    assert "UNTRAINED" not in (tmp_path / "summary.md").read_text()
    assert "UNTRAINED" not in format_terminal_summary(tables)


def test_terminal_summary_is_a_short_fixed_width_table(tables) -> None:  # noqa: ANN001
    text = format_terminal_summary(tables)
    lines = text.rstrip("\n").splitlines()
    assert "UNTRAINED (random init)" in lines[1]
    header = lines[2]
    assert header.split()[:5] == ["layer", "units", "dyn%", "stat%", "res%"]
    body = lines[4:]
    assert [x.split()[0] for x in body] == list(LAYERS)
    assert len({len(x) for x in lines[2:] if x}) <= 2  # aligned columns


def test_interval_columns_are_appended_after_documented_ones(tables, tmp_path: Path) -> None:  # noqa: ANN001
    tables.layerwise["dynamic_pct_lo"] = tables.layerwise["dynamic_pct"] - 1
    tables.layerwise["dynamic_pct_hi"] = tables.layerwise["dynamic_pct"] + 1
    tables.layerwise["scratch"] = 0
    write_run_report(tables, tmp_path)
    cols = list(pd.read_csv(tmp_path / "layerwise.csv").columns)
    assert cols == [*LAYERWISE_COLUMNS, "dynamic_pct_lo", "dynamic_pct_hi", "estimable", "note"]
    assert "[" in (tmp_path / "summary.md").read_text()


# --- intervals by default, and never a number from nothing -----------------------------------

def _run_h5(tmp_path: Path, **kw) -> Path:  # noqa: ANN003
    return write_features_h5(tmp_path / "run" / "features.h5", {"s1": 8, "s2": 8}, n=60, **kw)


def test_intervals_are_deterministic_and_in_every_table(tmp_path: Path) -> None:
    from staticdyn.metrics.analyze import analyze_with_intervals

    h5 = _run_h5(tmp_path)
    one = analyze_with_intervals(h5, n_boot=200, seed=3)
    two = analyze_with_intervals(h5, n_boot=200, seed=3)
    pd.testing.assert_frame_equal(one.layerwise, two.layerwise)
    pd.testing.assert_frame_equal(one.unitwise, two.unitwise)
    plain = analyze_h5(h5)
    n = len(LAYERWISE_COLUMNS)
    pd.testing.assert_frame_equal(one.layerwise.iloc[:, :n], plain.layerwise.iloc[:, :n])
    for col in ("score_dynamic", "score_static", "dynamic_pct", "static_pct", "residual_pct"):
        assert (one.layerwise[f"{col}_lo"] <= one.layerwise[f"{col}_hi"]).all(), col
    for col in ("dynamic", "static", "joint", "residual", "dead"):
        assert {f"{col}_lo", f"{col}_hi"} <= set(one.unitwise.columns), col
    write_run_report(one, tmp_path / "out")
    summary = (tmp_path / "out" / "summary.md").read_text()
    assert "95% bootstrap interval" in summary and " [" in summary
    terminal = format_terminal_summary(one)
    assert "95% bootstrap interval" in terminal and "[" in terminal.splitlines()[3]


def _blank_layer(h5: Path, layer: str) -> None:
    import h5py

    with h5py.File(h5, "a") as f:
        f[f"features/{layer}/a"][...] = 2.0
        f[f"features/{layer}/b"][...] = 2.0


def test_a_dead_layer_is_not_estimable_in_every_table(tmp_path: Path) -> None:
    from staticdyn.metrics.analyze import analyze_with_intervals

    h5 = _run_h5(tmp_path)
    _blank_layer(h5, "s2")
    t = analyze_with_intervals(h5, n_boot=50)
    lw, uw = t.layerwise.set_index("layer"), t.unitwise.set_index("layer")
    assert list(lw["estimable"]) == [True, False] and list(uw["estimable"]) == [True, False]
    assert "dead layer" in lw.loc["s2", "note"]
    assert lw.loc[["s2"], ["dynamic_pct", "static_pct", "dynamic_pct_lo"]].isna().all().all()
    assert uw.loc[["s2"], ["dynamic", "joint", "dead_hi"]].isna().all().all()
    files = write_run_report(t, tmp_path / "out")
    csv = pd.read_csv(files["layerwise.csv"])
    assert csv["dynamic_pct"].isna().tolist() == [False, True]
    header, s1 = (tmp_path / "out" / "layerwise.csv").read_text().splitlines()[:2]
    units = s1.split(",")[header.split(",").index("dynamic_units")]
    assert units.isdigit()  # integer columns of estimable rows stay integers (no '2.0')
    assert "s2: not estimable: dead layer" in files["summary.md"].read_text()
    assert "s2: not estimable" in format_terminal_summary(t)
    assert files["layerwise.png"].stat().st_size > 0


def test_a_factor_with_fewer_than_two_pairs_is_not_estimable(tmp_path: Path) -> None:
    import h5py
    import numpy as np

    h5 = _run_h5(tmp_path)
    with h5py.File(h5, "a") as f:
        factor = np.zeros(60, np.int8)
        factor[7] = 1  # one static pair
        del f["pairs/factor"]
        f["pairs/factor"] = factor
    t = analyze_h5(h5)
    assert not t.layerwise["estimable"].any()
    assert t.layerwise["static_pct"].isna().all() and t.unitwise["static"].isna().all()
    assert "1 static pair" in t.layerwise["note"].iloc[0]


def test_an_incomplete_file_is_refused_unless_allowed(tmp_path: Path) -> None:
    from staticdyn.metrics.estimable import IncompleteRunError

    h5 = _run_h5(tmp_path, complete=False)
    with pytest.raises(IncompleteRunError, match="incomplete .*--allow-incomplete"):
        analyze_h5(h5)
    t = analyze_h5(h5, allow_incomplete=True)
    assert t.layerwise["note"].str.startswith("partial").all()
    assert "partial" in t.meta
    assert "incomplete run" in summary_text(t, tmp_path)


def summary_text(tables, tmp_path: Path) -> str:  # noqa: ANN001
    return write_run_report(tables, tmp_path / "s", figures=False)["summary.md"].read_text()


def test_report_cli_exit_codes_for_not_estimable_and_incomplete(tmp_path: Path,
                                                                capsys) -> None:  # noqa: ANN001
    from staticdyn.report.__main__ import main

    h5 = _run_h5(tmp_path)
    _blank_layer(h5, "s1")
    args = ["--bootstrap", "20", "--quiet"]
    assert main([str(h5), *args]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not estimable" in err[0] and "s1" in err[0]
    assert main([str(h5), *args, "--allow-incomplete"]) == 0
    killed = write_features_h5(tmp_path / "k" / "features.h5", {"s1": 8}, n=40, complete=False)
    assert main([str(killed.parent), *args]) == 2
    assert "incomplete" in capsys.readouterr().err
    assert main([str(killed), *args, "--allow-incomplete"]) == 0
    assert (killed.parent / "layerwise.csv").is_file()


def test_report_prints_pairs_needed(tmp_path: Path, capsys) -> None:  # noqa: ANN001
    from staticdyn.report.__main__ import main

    h5 = write_features_h5(tmp_path / "r" / "features.h5", {"s1": 64}, n=200)
    assert main([str(h5), "--bootstrap", "200", "--half-width", "1.0"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("pairs needed"))
    assert "half-width of 1 pp" in line and "now 200" in line
    assert main([str(h5), "--half-width", "0"]) == 2


def test_figures_on_an_empty_folder_exits_non_zero_with_one_line(tmp_path: Path,
                                                                 capsys) -> None:  # noqa: ANN001
    from staticdyn.experiments.figures import main as figures_main

    (tmp_path / "empty").mkdir()
    assert figures_main([str(tmp_path / "empty"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no runs found" in err[0]
    assert not (tmp_path / "out").exists()


def test_figures_say_not_estimable_where_bars_are_missing(tmp_path: Path) -> None:
    from staticdyn.report.figures import layerwise_figure, unitwise_figure

    h5 = _run_h5(tmp_path)
    _blank_layer(h5, "s2")
    t = analyze_h5(h5)
    for fig in (layerwise_figure(t.layerwise), unitwise_figure(t.unitwise)):
        texts = [x.get_text() for x in fig.axes[0].texts]
        assert texts == ["not estimable"], texts
    back = pd.read_csv(write_run_report(t, tmp_path / "o", figures=False)["layerwise.csv"])
    assert [x.get_text() for x in layerwise_figure(back).axes[0].texts] == ["not estimable"]
    fine = analyze_h5(_run_h5(tmp_path / "fine"))
    assert len(layerwise_figure(fine.layerwise).axes[0].texts) == 0
