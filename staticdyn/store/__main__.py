"""``python -m staticdyn.store merge OUT.h5 SHARD.h5 ...``: merge the shards of one run."""

from __future__ import annotations

import argparse
import sys

from staticdyn.errors import StaticDynError
from staticdyn.store.merge import merge_shards


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m staticdyn.store")
    sub = ap.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("merge", help="merge shard features.h5 files into one")
    m.add_argument("out")
    m.add_argument("shards", nargs="+")
    args = ap.parse_args(argv)
    try:
        out = merge_shards(args.out, args.shards)
    except (StaticDynError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
