"""``python -m staticdyn.metrics FEATURES_H5``: the older name of ``python -m staticdyn.report``.

The command reads a features file and writes tables and figures, which is the report's job; it
lives in ``staticdyn.report.__main__``. This alias keeps existing scripts and habits working
(same options, same outputs, same exit codes). It is the one import from metrics up into
report, allowed by an explicit ``ignore_imports`` entry of the layers contract in pyproject.toml.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from staticdyn.report.__main__ import main as report_main

PROG = "python -m staticdyn.metrics"


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 input problem)."""
    return report_main(argv, prog=PROG)


if __name__ == "__main__":
    sys.exit(main())
