"""The fastest speed probe any benchmark run of this repository recorded, kept in
bench/probe-record.json.

`make bench-api` calls a run "at the best recorded speed" when its probes read within a
tolerance of the best one recorded. That best was the fastest probe in bench/results.md,
which every `make bench` rewrites. So a run on a slower machine lowered the bar: after
bench/results.md was retaken at probe 24.5 µs, a REST run at 25 µs counted as being at the
best speed, although 16.5 µs had been recorded on 2026-12-04. The record below only moves
when a run reads faster than it. `make bench` and `make bench-api` update it.

The probe times orderstate's own `decode_record`, so a change to that function moves it as
well as the machine does: the record names the run and the code it was taken on.
"""

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = ["RECORD", "ProbeRecord", "fastest", "note_probe", "note_run"]

RECORD = Path(__file__).with_name("probe-record.json")


@dataclass(frozen=True)
class ProbeRecord:
    us: float  # µs per record of hotpaths.speed_probe, lower is faster
    seen: str  # the run that read it, e.g. "make bench at 70b8eca, 2026-12-04"


def fastest(path: Path = RECORD) -> ProbeRecord | None:
    """The record, or None when there is none yet."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    return ProbeRecord(float(data["us"]), str(data["seen"]))


def note_probe(us: float, seen: str, path: Path = RECORD) -> ProbeRecord | None:
    """Keep ``us`` as the record if it is faster than the one kept: the new record, or None
    when the kept one stands."""
    kept = fastest(path)
    if kept is not None and kept.us <= round(us, 1):
        return None
    record = ProbeRecord(round(us, 1), seen)
    path.write_text(json.dumps(asdict(record), indent=2) + "\n")
    return record


def note_run(fastest_us: float, run: str) -> None:
    """Keep the fastest probe of a run that wrote its results (``run``, e.g. "make bench at
    70b8eca"), and say so when it is the new record."""
    record = note_probe(fastest_us, f"{run}, {datetime.now(UTC):%Y-%m-%d}")
    if record is not None:
        print(f"the fastest speed probe recorded is now {record.us} µs ({RECORD.name})")
