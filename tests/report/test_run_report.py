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
    assert list(pd.read_csv(out / "layerwise.csv").columns) == LAYERWISE_COLUMNS
    assert list(pd.read_csv(out / "unitwise.csv").columns) == UNITWISE_COLUMNS
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
    assert cols == [*LAYERWISE_COLUMNS, "dynamic_pct_lo", "dynamic_pct_hi"]
    assert "[" in (tmp_path / "summary.md").read_text()
