"""Table writers: CSV for machines, Markdown for READMEs and run summaries, LaTeX for the paper.

All three take a DataFrame and an optional column list. The column list is explicit because the
CSV schemas are a contract (other tools read them back by name), so a writer must fail loudly
when a documented column is missing rather than silently write a different table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

# LaTeX special characters and their text-mode escapes. The backslash is handled separately in
# latex_escape, so that the backslashes the other escapes introduce are not escaped again.
_LATEX_ESCAPES: tuple[tuple[str, str], ...] = (
    ("&", r"\&"),
    ("%", r"\%"),
    ("$", r"\$"),
    ("#", r"\#"),
    ("_", r"\_"),
    ("{", r"\{"),
    ("}", r"\}"),
    ("~", r"\textasciitilde{}"),
    ("^", r"\textasciicircum{}"),
)


def _select(df: pd.DataFrame, columns: Sequence[str] | None) -> pd.DataFrame:
    if columns is None:
        return df
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"table is missing documented columns {missing}; has {list(df.columns)}")
    return df.loc[:, list(columns)]


def format_cell(value: object, float_digits: int = 1) -> str:
    """One cell as text: floats rounded, NaN/None as an empty cell, everything else str()."""
    if value is None:
        return ""
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        return f"{value:.{float_digits}f}"
    try:
        if pd.isna(value):  # pandas NA / NaT
            return ""
    except (TypeError, ValueError):
        pass
    return str(value)


def write_csv(df: pd.DataFrame, path: str | Path, columns: Sequence[str] | None = None) -> Path:
    """CSV with exactly ``columns`` (in that order) when given; full float precision."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _select(df, columns).to_csv(path, index=False)
    return path


def _cell_rows(
    df: pd.DataFrame, float_digits: int | dict[str, int]
) -> list[list[str]]:
    digits = float_digits if isinstance(float_digits, dict) else {}
    default = float_digits if isinstance(float_digits, int) else 1
    return [
        [format_cell(v, digits.get(c, default)) for c, v in zip(df.columns, row, strict=True)]
        for row in df.itertuples(index=False, name=None)
    ]


def to_markdown(
    df: pd.DataFrame, columns: Sequence[str] | None = None,
    float_digits: int | dict[str, int] = 1,
) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped so the grid stays intact)."""
    df = _select(df, columns)
    header = [str(c).replace("|", r"\|") for c in df.columns]
    rows = [[cell.replace("|", r"\|") for cell in r] for r in _cell_rows(df, float_digits)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    align = ["---:" if n else ":---" for n in numeric]
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def latex_escape(text: str) -> str:
    """Escape LaTeX's special characters (layer names such as ``slow_stage3`` are common)."""
    text = text.replace("\\", "\0")
    for char, escaped in _LATEX_ESCAPES:
        text = text.replace(char, escaped)
    return text.replace("\0", r"\textbackslash{}")


def to_latex(
    df: pd.DataFrame, columns: Sequence[str] | None = None,
    float_digits: int | dict[str, int] = 1, caption: str | None = None,
    label: str | None = None,
) -> str:
    """A booktabs ``tabular`` (wrapped in ``table`` when a caption or label is given).

    Written by hand rather than with ``DataFrame.to_latex`` so that the escaping and the
    column count of every row are under our control (pandas' output depends on jinja2 and
    its version).
    """
    df = _select(df, columns)
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]
    spec = "".join("r" if n else "l" for n in numeric)
    header = " & ".join(latex_escape(str(c)) for c in df.columns) + r" \\"
    body = [
        " & ".join(latex_escape(cell) for cell in row) + r" \\"
        for row in _cell_rows(df, float_digits)
    ]
    lines = [rf"\begin{{tabular}}{{{spec}}}", r"\toprule", header, r"\midrule", *body,
             r"\bottomrule", r"\end{tabular}"]
    if caption is not None or label is not None:
        inner = [r"\begin{table}[t]", r"\centering", *lines]
        if caption is not None:
            inner.append(rf"\caption{{{latex_escape(caption)}}}")
        if label is not None:
            inner.append(rf"\label{{{label}}}")
        inner.append(r"\end{table}")
        lines = inner
    return "\n".join(lines) + "\n"


def to_fixed_width(
    df: pd.DataFrame, columns: Sequence[str] | None = None,
    float_digits: int | dict[str, int] = 1,
) -> str:
    """Plain aligned columns for a terminal: numbers right-aligned, text left-aligned."""
    df = _select(df, columns)
    header = [str(c) for c in df.columns]
    rows = _cell_rows(df, float_digits)
    widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(header)]
    numeric = [pd.api.types.is_numeric_dtype(df[c]) for c in df.columns]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w)
            for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"


def write_table_set(
    df: pd.DataFrame, stem: str | Path, columns: Sequence[str] | None = None,
    float_digits: int | dict[str, int] = 1, caption: str | None = None,
) -> dict[str, Path]:
    """The same table as ``stem.csv``, ``stem.md`` and ``stem.tex``; returns the paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    csv = write_csv(df, stem.with_suffix(".csv"), columns)
    md = stem.with_suffix(".md")
    md.write_text(to_markdown(df, columns, float_digits))
    tex = stem.with_suffix(".tex")
    tex.write_text(to_latex(df, columns, float_digits, caption=caption))
    return {"csv": csv, "md": md, "tex": tex}
