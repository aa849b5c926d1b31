"""The short fault-injection run of `make test`: about 30,000 records, 5 worker kills, 3 relay
kills, an api kill, a broker restart, a PostgreSQL crash and killed connections, on a broker
and server of its own; every invariant must hold (`make chaos` is the full size)."""

from pathlib import Path

import pytest

from tests.chaos.report import write_report
from tests.chaos.run import SHORT, run_chaos

pytestmark = pytest.mark.integration


async def test_a_short_fault_injection_run_keeps_every_promise(tmp_path: Path) -> None:
    result = await run_chaos(SHORT)
    write_report(result, tmp_path / "chaos-results.md")
    report = (tmp_path / "chaos-results.md").read_text()
    assert not result.failures, report
    assert result.comparison is not None and result.comparison.orders > 1000
    assert result.outbound is not None and result.outbound.events > 10_000
    assert {f.kind for f in result.faults} >= {
        "worker_kill",
        "relay_kill",
        "broker_restart",
        "postgres_restart",
    }
