"""Rebuild benchmarks_db/ from benchmarks_db/raw/ (deterministic; a rerun is byte-identical).

    python scripts/build_db.py [--raw DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from slmselect.evidence.build import build_db  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--raw", default=None, help="raw folder (default: benchmarks_db/raw)")
    p.add_argument("--out", default=None, help="output folder (default: the folder above --raw)")
    args = p.parse_args()
    report = build_db(args.raw, args.out)
    print(report)
    for issue in report.issues[:20]:
        print(" ", issue)
    return 4 if report.issues else 0


if __name__ == "__main__":
    raise SystemExit(main())
