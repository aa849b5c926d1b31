"""Per-call cost of the worker's and relay's hot paths, next to cheaper alternatives.

Evidence for the suggestions in bench/results.md: each row times what orderstate does now
and, where there is one, the alternative the report proposes, on the same simulated events.
The alternatives live only here; nothing in services/ is changed. Run alone with
``.venv/bin/python bench/hotpaths.py``; ``bench/run.py`` runs it too.
"""

import gc
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from orderstate import metrics
from orderstate.domain import Accepted, OrderView, PolicyBook, decide
from orderstate.events import decode as decode_module
from orderstate.events import envelope as envelope_module
from orderstate.events.decode import decode_record
from orderstate.events.envelope import decode_kafka
from orderstate.events.outbound import time_data
from orderstate.projector.outbox_rows import fact_rows
from orderstate.simulation.generator import Kind, SimConfig, SimRecord, generate


@dataclass(frozen=True)
class Row:
    path: str
    now_us: float
    alternative: str = ""
    alternative_us: float | None = None
    note: str = ""
    # The call_counts.PATHS key that counts how often the worker runs this path, if any.
    counted: str = ""
    # The alternative is the view as msgspec Structs: the row counts towards what Structs
    # would save per record (``struct_saving``).
    structs: bool = False

    def __setstate__(self, state: dict[str, Any]) -> None:
        # Rows pickled before the calls were counted (bench/run.py --render) have neither.
        self.__dict__.update({"counted": "", "structs": False, **state})


def _per_call(fn: Callable[[Any], object], items: Sequence[Any], repeat: int = 3) -> float:
    """Best of ``repeat`` passes over ``items``, in microseconds per item, with the garbage
    collector off as timeit does (its pauses are measured in the processes instead)."""
    best = float("inf")
    gc.collect()
    gc.disable()
    try:
        for _ in range(repeat):
            started = time.perf_counter()
            for item in items:
                fn(item)
            best = min(best, time.perf_counter() - started)
    finally:
        gc.enable()
    return best / len(items) * 1e6


def _no_nul(record: SimRecord) -> bool:
    """NUL reaches a decoded event only as a 0x00 byte in a header or as the JSON escape
    \\u0000 in the value (json.loads refuses raw control characters in strings)."""
    names = "".join(name for name, _ in record.headers)
    raws = b"".join(raw for _, raw in record.headers)
    return b"\\u0000" not in record.value and b"\x00" not in raws and "\x00" not in names


def measure(orders: int = 1000) -> list[Row]:
    # Imported here, not at the top: bench/worker_cost.py and bench/startup.py run
    # speed_probe with an older commit's orderstate, which lacks these.
    import msgspec_view  # noqa: PLC0415
    from orderstate.events.envelope import binary_from_stored  # noqa: PLC0415
    from orderstate.events.outbound import outbound_event_text, snapshot_text  # noqa: PLC0415

    records = [r for r in generate(SimConfig(orders=orders, seed=5)) if r.kind != Kind.MALFORMED]
    decoded = [
        decode_record(key=r.key, value=r.value, headers=r.headers, topic_role=r.role)
        for r in records
    ]
    events = [d.event for d in decoded]
    texts = [r.value.decode() for r in records]
    values = [json.loads(t) for t in texts]
    rows = [
        Row(
            "decode_record (whole, per record)",
            _per_call(
                lambda r: decode_record(
                    key=r.key, value=r.value, headers=r.headers, topic_role=r.role
                ),
                records,
            ),
            counted="decode_record",
        ),
        Row(
            "  NUL check: _nul_in(event.model_dump())",
            _per_call(lambda e: decode_module._nul_in(e.model_dump(exclude_none=True)), events),
            "scan the raw value and headers first",
            _per_call(_no_nul, records),
            "walk only when the bytes hold a NUL",
        ),
        Row(
            "  depth check: walk every node of the parsed value",
            _per_call(lambda v: envelope_module._depth_exceeds(v, 32), values),
            "count the opening brackets first (what parse_json does)",
            _per_call(
                lambda tv: (
                    tv[0].count("{") + tv[0].count("[") > 32
                    and envelope_module._depth_exceeds(tv[1], 32)
                ),
                list(zip(texts, values, strict=True)),
            ),
            "walk only past 32 brackets",
        ),
        Row(
            "  envelope: decode_kafka (headers, json, CloudEvent)",
            _per_call(
                lambda r: decode_kafka(r.headers, r.value, max_bytes=1 << 20, max_depth=32),
                records,
            ),
        ),
    ]

    policy = PolicyBook().for_shop("any")
    now = datetime.now(UTC)
    views: dict[tuple[str, str], OrderView] = {}
    accepted: list[tuple[Accepted, Any]] = []
    seen: set[tuple[str, str]] = set()
    unique = []
    for d in decoded:
        if (d.event.source, d.event.id) not in seen:
            seen.add((d.event.source, d.event.id))
            unique.append(d)
    gc.collect()
    gc.disable()
    started = time.perf_counter()
    for d in unique:
        key = (d.event.shopid, d.event.orderid)
        decision = decide(views.get(key), d.change, policy, now)
        if isinstance(decision, Accepted):
            views[key] = decision.new_view
            accepted.append((decision, d.event))
    rows.append(
        Row(
            "decide (per event)",
            (time.perf_counter() - started) / len(unique) * 1e6,
            counted="decide",
        )
    )
    gc.enable()

    rows.append(
        Row(
            "fact_rows (per accepted event)",
            _per_call(lambda a: fact_rows(a[0], cause=a[1], now=now, first_sequence=1), accepted),
            counted="fact_rows",
        )
    )
    changed = [a.new_view for a, _ in accepted]
    msgspec_view.hooked_or_fail(changed)
    hooked = "msgspec writing the pydantic models as dicts (enc_hook), no Structs"
    snapshot_us = _per_call(snapshot_text, changed)
    rows.append(
        Row(
            "  snapshot_text(view), once per change",
            snapshot_us,
            hooked,
            _per_call(msgspec_view.hooked_snapshot, changed),
            "the same bytes",
            counted="snapshot_text",
        )
    )
    changed_structs = msgspec_view.snapshots_or_fail(changed)
    rows.append(
        Row(
            "  snapshot_text(view), the same views",
            snapshot_us,
            "msgspec Structs of the same view (bench/msgspec_view.py)",
            _per_call(msgspec_view.struct_snapshot, changed_structs),
            "the same JSON for every view",
            counted="snapshot_text",
            structs=True,
        )
    )
    facts = [
        (fact, snapshot_text(a.new_view), a.new_view) for a, _ in accepted for fact in a.emitted
    ]
    rows.append(
        Row(
            "  outbound_event_text (the event around the snapshot's text), per fact",
            _per_call(
                lambda f: outbound_event_text(
                    f[0], f[1], event_id="x", time=time_data(now), view=f[2], sequence=1
                ),
                facts,
            ),
            counted="outbound_event_text",
        )
    )
    as_json = [
        outbound_event_text(f[0], f[1], event_id="x", time=time_data(now), view=f[2], sequence=1)
        for f in facts
    ]
    rows.extend(_view_rows(list(views.values()), hooked, now))

    outcomes = [("applied", ""), ("duplicate", ""), ("rejected", "state_not_settable")] * 200

    def per_event(batch: list[tuple[str, str]]) -> None:
        for kind, reason in batch:
            metrics.EVENTS.labels(kind, reason).inc()

    def per_batch(batch: list[tuple[str, str]]) -> None:
        for (kind, reason), n in Counter(batch).items():
            metrics.EVENTS.labels(kind, reason).inc(n)

    rows.append(
        Row(
            "metrics.EVENTS.labels().inc() per event (worker _observe)",
            _per_call(per_event, [outcomes] * 50) / len(outcomes),
            "count per batch, inc once per label set",
            _per_call(per_batch, [outcomes] * 50) / len(outcomes),
        )
    )
    rows.append(
        Row(
            "relay: binary_from_stored(outbox event text), per row",
            _per_call(binary_from_stored, as_json),
        )
    )
    rows.append(_partition_row(records))
    return rows


def _partition_row(records: Sequence[SimRecord]) -> Row:
    """The partition of a key as Kafka's default partitioner picks it: the worker asks it of
    every record it reads, the relay of every row it sends. Uncached it is aiokafka's murmur2
    in pure Python; the bench's orders repeat their keys within minutes, a shop's over days."""
    from orderstate.kafka_client import expected_partition  # noqa: PLC0415 -- see measure

    keys = sorted({r.key for r in records})
    uncached = expected_partition.__wrapped__
    expected_partition.cache_clear()
    for key in keys:
        expected_partition(key, 6)
    return Row(
        "expected_partition(key, 6) of a key not in its cache (aiokafka's murmur2)",
        _per_call(lambda k: uncached(k, 6), keys),
        "of a key in its cache (functools.lru_cache, the last 65,536 keys)",
        _per_call(lambda k: expected_partition(k, 6), keys),
        "what a key costs depends on how soon its order's next event comes",
    )


def _view_rows(final: list[OrderView], hooked: str, now: datetime) -> list[Row]:
    """The stored view's dump, load and copy, next to msgspec: Structs, and msgspec writing the
    pydantic models as they are."""
    import msgspec  # noqa: PLC0415 -- see measure

    import msgspec_view  # noqa: PLC0415

    rows: list[Row] = []
    texts = [v.model_dump_json() for v in final]
    structs = msgspec_view.mirror_or_fail(texts)
    bodies = [t.encode() for t in texts]
    mirror = "msgspec Structs of the same view (bench/msgspec_view.py)"
    # The view's JSON, timed once, against two alternatives: Structs, and msgspec over the
    # same models.
    pydantic_us = _per_call(lambda v: v.model_dump_json(), final)
    rows.append(
        Row(
            "view.model_dump_json() (orders.view, per order and batch)",
            pydantic_us,
            mirror,
            _per_call(msgspec_view.encoder.encode, structs),
            "the same JSON for every view",
            counted="view_dump",
            structs=True,
        )
    )
    rows.append(
        Row(
            "view.model_dump_json(), the same views",
            pydantic_us,
            hooked,
            _per_call(msgspec_view.model_encoder.encode, final),
            "the same bytes",
            counted="view_dump",
        )
    )
    rows.append(
        Row(
            "OrderView.model_validate_json (load_views, per order and batch)",
            _per_call(OrderView.model_validate_json, texts),
            mirror,
            _per_call(msgspec_view.decoder.decode, bodies),
            "validated: types, enums, unknown fields refused",
            counted="view_load",
            structs=True,
        )
    )
    rows.append(
        Row(
            "view.evolve(version, updated_at) (decide, per accepted change)",
            _per_call(lambda v: v.evolve(version=v.version + 1, updated_at=now), final),
            "msgspec.structs.replace of the Struct",
            _per_call(
                lambda v: msgspec.structs.replace(v, version=v.version + 1, updated_at=now),
                structs,
            ),
            counted="view_evolve",
            structs=True,
        )
    )

    return rows


_PROBE: list[SimRecord] = []


def speed_probe() -> float:
    """µs per decode_record over 300 fixed records, best of 5, collector off: a fixed CPU
    workload to tell a slower machine from a slower orderstate (shared VMs drift)."""
    if not _PROBE:
        _PROBE.extend(
            r
            for r in generate(SimConfig(orders=40, seed=99, start=_EPOCH))
            if r.kind != Kind.MALFORMED
        )
        del _PROBE[300:]
    return _per_call(
        lambda r: decode_record(key=r.key, value=r.value, headers=r.headers, topic_role=r.role),
        _PROBE,
        repeat=5,
    )


_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _per_record(row: Row, calls: Mapping[str, int], events: int) -> float:
    """How often the worker ran ``row``'s path per input record, in the counted replay."""
    return calls.get(row.counted, 0) / events


def table(rows: list[Row], calls: Mapping[str, int] | None = None, events: int = 0) -> str:
    """The rows as a table; with ``calls`` (call_counts over ``events`` input records) also
    how often each counted path ran per record and what it cost per record."""
    counts: Mapping[str, int] = calls or {}
    counted = bool(counts and events)
    extra = " calls per record | µs per record now / alternative |" if counted else ""
    lines = [
        f"| path | µs per call now | alternative | µs per call |{extra} note |",
        "|---|---|---|---|" + ("---|---|" if counted else "") + "---|",
    ]
    for r in rows:
        alt = "" if r.alternative_us is None else f"{r.alternative_us:.1f}"
        cells = [r.path, f"{r.now_us:.1f}", r.alternative, alt]
        if counted:
            per, cost = "", ""
            if r.counted:
                n = _per_record(r, counts, events)
                per, cost = f"{n:.2f}", f"{r.now_us * n:.1f}"
                if r.alternative_us is not None:
                    cost += f" / {r.alternative_us * n:.1f}"
            cells += [per, cost]
        lines.append("| " + " | ".join([*cells, r.note]) + " |")
    return "\n".join(lines)


def struct_saving(
    rows: list[Row], calls: Mapping[str, int] | None, events: int
) -> tuple[float, float] | None:
    """The µs per record of the paths whose alternative is the view as Structs, now and with
    Structs (each path once), or None without counts."""
    if not calls or not events:
        return None
    now = alt = 0.0
    seen: set[str] = set()
    for r in rows:
        if r.structs and r.alternative_us is not None and r.counted not in seen:
            seen.add(r.counted)
            n = _per_record(r, calls, events)
            now += r.now_us * n
            alt += r.alternative_us * n
    return now, alt


if __name__ == "__main__":
    print(table(measure()))
