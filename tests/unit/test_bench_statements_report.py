"""results.md's table of apply_batch's statements (bench/report.py) shows each statement's CPU
on both sides, per call, and splits the apply's CPU per event."""

import sys
from pathlib import Path

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from pipeline import StatementCost, StatementProfile
from report import _statements_section


def test_the_statement_table_shows_client_and_server_cpu_per_call() -> None:
    profile = StatementProfile(
        events=1_000,
        batches=2,
        seconds=2.0,
        decode_s=0.2,
        apply_s=1.5,
        decode_cpu_s=0.02,
        apply_cpu_s=0.10,
        statements=[
            StatementCost(
                "upsert_orders", calls=2, wall_s=0.04, client_cpu_s=0.004, server_cpu_s=0.03
            ),
            StatementCost("COMMIT", calls=2, wall_s=0.01, client_cpu_s=0.0002, server_cpu_s=0.001),
        ],
    )
    lines: list[str] = []

    _statements_section(profile, lines.append)

    text = "\n".join(lines)
    assert "| upsert_orders | 0.04 | 2 | 20.0 | 2,000 | 15,000 |" in text
    assert "| COMMIT | 0.01 | 2 | 5.0 | 100 | 500 |" in text
    # 0.1 s of apply CPU, of which 4.2 ms in the statements, over 1,000 events.
    assert "apply_batch's Python 95.8 µs, asyncpg in the statements 4.2 µs" in text
    assert "PostgreSQL's backend 31.0 µs" in text
    assert "decode_record 20.0 µs" in text
