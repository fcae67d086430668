"""Table writers: LaTeX must compile-shaped (balanced, one column count), Markdown a clean grid."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from staticdyn.report.tables import (
    latex_escape,
    to_fixed_width,
    to_latex,
    to_markdown,
    write_csv,
    write_table_set,
)


@pytest.fixture
def df() -> pd.DataFrame:
    return pd.DataFrame({
        "layer": ["slow.stage_1", "fast_stage&2", "50%_x#y"],
        "units": [64, 128, 256],
        "dynamic_pct": [21.44, np.nan, 38.0],
        "note": ["a|b", "{c}", "back\\slash ~^$"],
    })


def _unescaped(text: str, char: str) -> int:
    return len(re.findall(rf"(?<!\\){re.escape(char)}", text))


def test_latex_is_well_formed(df: pd.DataFrame) -> None:
    tex = to_latex(df, caption="a_caption", label="tab:x")
    lines = tex.splitlines()
    assert tex.count(r"\begin{tabular}") == tex.count(r"\end{tabular}") == 1
    assert tex.count(r"\begin{table}") == tex.count(r"\end{table}") == 1
    spec = re.search(r"\\begin\{tabular\}\{([lrc]+)\}", tex).group(1)
    assert len(spec) == df.shape[1]
    start = lines.index(r"\toprule") + 1
    end = lines.index(r"\bottomrule")
    rows = [x for x in lines[start:end] if x != r"\midrule"]
    assert len(rows) == len(df) + 1
    for row in rows:
        assert row.endswith(r"\\")
        assert _unescaped(row, "&") == df.shape[1] - 1, row
    body = "\n".join(rows)
    for char in "_%#$":
        assert _unescaped(body, char) == 0, char
    assert r"slow.stage\_1" in tex and r"fast\_stage\&2" in tex and r"50\%\_x\#y" in tex
    assert "a\\_caption" in tex
    # Braces balance once the escaped ones are ignored.
    stripped = tex.replace(r"\{", "").replace(r"\}", "")
    assert stripped.count("{") == stripped.count("}")


def test_latex_escape_handles_backslash_once() -> None:
    assert latex_escape("a\\b_c") == r"a\textbackslash{}b\_c"
    assert latex_escape("~^") == r"\textasciitilde{}\textasciicircum{}"


def test_markdown_grid(df: pd.DataFrame) -> None:
    md = to_markdown(df, float_digits={"dynamic_pct": 1})
    lines = md.strip().splitlines()
    assert len(lines) == len(df) + 2
    counts = {len(re.findall(r"(?<!\\)\|", x)) for x in lines}
    assert counts == {df.shape[1] + 1}
    assert "21.4" in md and "a\\|b" in md
    assert lines[1].split("|")[2].strip() == "---:"  # numeric column right-aligned


def test_fixed_width_aligns_columns(df: pd.DataFrame) -> None:
    text = to_fixed_width(df[["layer", "units"]])
    lines = text.rstrip("\n").splitlines()
    assert lines[0].startswith("layer") and set(lines[1]) <= {"-", " "}
    assert len({x.index("64") + 2 for x in lines[2:3]}) == 1


def test_csv_enforces_documented_columns(df: pd.DataFrame, tmp_path: Path) -> None:
    path = write_csv(df, tmp_path / "t.csv", ["units", "layer"])
    assert list(pd.read_csv(path).columns) == ["units", "layer"]
    with pytest.raises(KeyError, match="missing documented columns"):
        write_csv(df, tmp_path / "u.csv", ["layer", "absent"])


def test_table_set_writes_three_formats(df: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_table_set(df, tmp_path / "sub" / "table")
    assert sorted(paths) == ["csv", "md", "tex"]
    assert all(p.stat().st_size > 0 for p in paths.values())
