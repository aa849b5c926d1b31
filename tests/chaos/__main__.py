"""`python -m tests.chaos [--short] [--report FILE]`: what `make chaos` runs."""

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from tests.chaos.report import write_report
from tests.chaos.run import FULL, SHORT, ChaosConfig, run_chaos


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos",
        description="The fault-injection suite (docs/reliability.md).",
    )
    parser.add_argument("--short", action="store_true", help="the CI size instead of the full one")
    parser.add_argument("--records", type=int, help="inbound records from the simulator")
    parser.add_argument("--rate", type=float, help="records published per second")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    args = parser.parse_args(argv)
    config = SHORT if args.short else FULL
    overrides: dict[str, Any] = {"seed": args.seed}
    if args.records:
        overrides["records"] = args.records
    if args.rate:
        overrides["rate"] = args.rate
    config = ChaosConfig(**{**vars(config), **overrides})
    result = asyncio.run(run_chaos(config))
    if args.report:
        write_report(result, args.report)
        print(f"chaos: report written to {args.report}")  # noqa: T201 -- a command's output
    for failure in result.failures:
        print(f"chaos: FAILED: {failure}", file=sys.stderr)  # noqa: T201 -- a command's output
    return 1 if result.failures else 0


sys.exit(main())
