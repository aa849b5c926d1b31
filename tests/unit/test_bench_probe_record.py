"""The fastest speed probe recorded (bench/probe_record.py): only a faster run moves it, so a
`make bench` on a slower machine does not lower the bar that `make bench-api` measures
against."""

import sys
from pathlib import Path

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

from api_report import best_recorded_probe
from probe_record import ProbeRecord, fastest, note_probe


def test_the_committed_record_reads() -> None:
    record = fastest()

    assert record is not None
    assert 0 < record.us < 100
    assert record.seen


def test_only_a_faster_probe_replaces_the_record(tmp_path: Path) -> None:
    path = tmp_path / "probe-record.json"
    assert fastest(path) is None

    first = note_probe(18.04, "make bench at aaaaaaa, 2026-12-04", path)
    slower = note_probe(24.5, "make bench at bbbbbbb, 2026-12-05", path)
    same = note_probe(18.0, "make bench-api at ccccccc, 2026-12-05", path)
    faster = note_probe(16.46, "make bench-api at ddddddd, 2026-12-06", path)

    assert first == ProbeRecord(18.0, "make bench at aaaaaaa, 2026-12-04")
    assert (slower, same) == (None, None)
    assert faster == ProbeRecord(16.5, "make bench-api at ddddddd, 2026-12-06")
    assert fastest(path) == faster


def test_a_slower_results_md_does_not_lower_the_best_recorded(tmp_path: Path) -> None:
    record = tmp_path / "probe-record.json"
    note_probe(16.5, "make bench at 70b8eca, 2026-12-04", record)
    results = tmp_path / "results.md"
    results.write_text("- Speed of the machine through the run (µs per record): min 24.5, max 28.1")

    assert best_recorded_probe(results, record) == ProbeRecord(
        16.5, "make bench at 70b8eca, 2026-12-04"
    )

    results.write_text("- Speed of the machine through the run (µs per record): min 15.2, max 18.0")
    assert best_recorded_probe(results, record) == ProbeRecord(15.2, "bench/results.md")
