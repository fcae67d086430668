"""Reports: per-run tables and figures, sweep aggregation and the paper's figures.

Everything here reads the tables ``staticdyn.metrics`` produces; nothing imports torch, so a
report can be rebuilt on a laptop from the CSVs or the features file alone.
"""

from staticdyn.report.run_report import format_terminal_summary, write_run_report

__all__ = ["format_terminal_summary", "write_run_report"]
