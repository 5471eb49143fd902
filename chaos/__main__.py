"""`python -m chaos [scenario …]`: run scenarios, print one verdict line each and a results table."""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from chaos.faults import FAULTS
from chaos.report import TABLE_HEADER, table_row
from chaos.run import run_scenario
from chaos.timing import from_env


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("scenarios", nargs="*", default=list(FAULTS), help=f"any of {', '.join(FAULTS)}")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    timing = from_env()
    rows = []
    failed = False
    for name in args.scenarios:
        workdir = Path(tempfile.mkdtemp(prefix=f"chaos-{name}-"))
        outcome = asyncio.run(run_scenario(name, timing, workdir, args.seed))
        print(outcome.verdict.line(), flush=True)
        for line in [*outcome.verdict.notes, *outcome.verdict.lost_examples]:
            print(f"  {line}", flush=True)
        rows.append(table_row(outcome))
        failed = failed or not outcome.verdict.ok
    print(f"\nprofile {timing.name}, seed {args.seed}\n")
    print("\n".join([*TABLE_HEADER, *rows]))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
