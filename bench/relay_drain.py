"""How long the relay takes to drain a large outbox backlog (after a broker outage, say), with
the relay of a given commit and with the current one, in one run on the same data.

    PYTHONPATH=. .venv/bin/python bench/relay_drain.py --rows 500000 --before debdfa3

Each variant gets a fresh database holding the same backlog (rows of a realistic size,
spread over many orders) and its own topics, and runs alone in this process until the
outbox is empty. The figures (rows/s, and seconds per 50,000 rows as the backlog shrinks)
show whether a round's cost grows with the backlog. Writes a section into
bench/relay-drain-results.md.
"""

import argparse
import asyncio
import importlib
import importlib.util
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType

import asyncpg
import pydantic_core
from pydantic import SecretStr

from infra import REPO, Scratch, endpoints
from orderstate.projector.outbox_rows import lane_of
from orderstate.relay.outbox_relay import Relay
from orderstate.settings import Settings

_ORDERS = 50_000


def _relay_class(commit: str | None) -> type:
    if commit is None:
        return Relay
    source = subprocess.run(
        ["git", "show", f"{commit}:services/orderstate/relay/outbox_relay.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    # Modules renamed since: the old relay imports them by their old names.
    sys.modules.setdefault("orderstate.runtime", importlib.import_module("orderstate.startup"))
    path = Path(tempfile.mkdtemp()) / f"relay_{commit}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"relay_{commit}", path)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the relay of {commit}")
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Relay  # type: ignore[no-any-return]


def _event(n: int) -> tuple[str, int, str, str, str, str]:
    """Outbox row ``n``: an order event as the worker writes it (compact JSON, data last, the
    order's snapshot with three items and a shipment; about 1,300 bytes)."""
    order = f"o{n % _ORDERS}"
    version = n // _ORDERS + 1
    at = "2026-12-01T10:00:00Z"
    event = {
        "specversion": "1.0",
        "id": f"e{n}",
        "source": "orderstate",
        "type": "order.state_changed",
        "time": "2026-12-01T10:00:00.123456Z",
        "datacontenttype": "application/json",
        "shopid": "shop-1",
        "orderid": order,
        "sequence": version,
        "data": {
            "version": version,
            "cause_event_id": f"c{n}",
            "occurred_at": at,
            "from_state": "paid",
            "to_state": "in_production",
            "order": {
                "order_id": order,
                "order_url": f"https://shop-1.example.com/orders/{order}",
                "order_date": at,
                "language": "de",
                "promised_delivery_date": None,
                "order_tags": {"channel": "web", "campaign": "bf"},
                "boarding_complete": False,
                "state": "in_production",
                "payment_evidence": True,
                "version": version,
                "items": [
                    {
                        "item_id": f"{order}-{i}",
                        "sku": f"SKU-{i:05d}",
                        "name": "Grey wool jumper, size M",
                        "quantity": i + 1,
                        "unit_price": "49.95",
                        "currency": "EUR",
                        "status": "open",
                    }
                    for i in range(3)
                ],
                "shipments": [
                    {
                        "shipment_id": f"S-{order}",
                        "direction": "outbound",
                        "status": "created",
                        "carrier": "dhl",
                        "tracking_code": f"JJD{n:012d}",
                        "linked_at": at,
                    }
                ],
                "created_at": at,
                "updated_at": at,
                "deleted": False,
            },
        },
    }
    return (
        "order_events_out",
        lane_of("shop-1", order),
        "shop-1",
        order,
        f"e{n}",
        pydantic_core.to_json(event).decode(),
    )


async def _fill(url: str, rows: int) -> None:
    """The backlog: one order event per row, round-robin over the orders, in id order."""
    conn = await asyncpg.connect(url)
    try:
        now = datetime.now(UTC)
        await conn.copy_records_to_table(
            "outbox",
            records=[(*_event(n), now) for n in range(rows)],
            columns=[
                "topic_role",
                "lane",
                "shop_id",
                "order_id",
                "event_id",
                "event",
                "created_at",
            ],
        )
        await conn.execute("VACUUM ANALYZE outbox")
    finally:
        await conn.close()


async def _drain(
    relay_class: type, settings: Settings, rows: int, limit_s: float | None
) -> tuple[float, int, list[float], float]:
    """Seconds taken, rows drained (less than ``rows`` when ``limit_s`` cut it short), the
    time at which each further 50,000 rows were out, and the CPU seconds this process used
    meanwhile (the relay, and a count of the backlog every 0.5 s)."""
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=4
    )
    stop = asyncio.Event()
    relay = relay_class(settings, pool, stop=stop)
    started, cpu_started = time.monotonic(), time.process_time()
    task = asyncio.create_task(relay.run())
    marks: list[float] = []
    step = 50_000
    done = 0
    try:
        async with pool.acquire() as conn:
            while True:
                left = await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL")
                done = rows - left
                while len(marks) < done // step:
                    marks.append(time.monotonic() - started)
                if left == 0:
                    break
                if limit_s is not None and time.monotonic() - started > limit_s:
                    print(f"relay_drain: stopped after {limit_s:,.0f} s", flush=True)
                    break
                if task.done():
                    raise RuntimeError(f"the relay ended: {task.result()!r}")
                await asyncio.sleep(0.5)
    finally:
        stop.set()
        await task
        await pool.close()
    return time.monotonic() - started, done, marks, time.process_time() - cpu_started


async def _variant(
    scratch: Scratch, name: str, commit: str | None, rows: int, limit_s: float | None
) -> str:
    url = await scratch.database(name)
    topics = scratch.topic_set(name)
    await scratch.create_topics(topics.all)
    print(f"relay_drain: {name}: writing {rows:,} outbox rows ...", flush=True)
    await _fill(url, rows)
    settings = Settings(
        database_url=SecretStr(url),
        kafka_bootstrap_servers=scratch.ends.kafka,
        topic_order_events=topics.order_events,
        topic_rejected=topics.rejected,
        topic_orders=topics.orders,
        topic_shipments=topics.shipments,
    )
    print(f"relay_drain: {name}: draining ...", flush=True)
    seconds, done, marks, cpu = await _drain(_relay_class(commit), settings, rows, limit_s)
    per_step = [b - a for a, b in zip([0.0, *marks], marks, strict=False)]
    steps = ", ".join(f"{s:.1f}" for s in per_step)
    drained = f"{seconds:,.1f} s"
    if done < rows:
        drained = f"not drained: {done:,} out in {seconds:,.0f} s"
    line = (
        f"| {name} | {commit or 'HEAD'} | {rows:,} | {drained} | {done / seconds:,.0f} "
        f"| {cpu / max(done, 1) * 1e6:.0f} | {steps} |"
    )
    print(f"relay_drain: {line}", flush=True)
    return line


async def _main(rows: int, before: str | None, limit_s: float | None) -> list[str]:
    scratch = Scratch(endpoints())
    lines = []
    try:
        if before:
            lines.append(await _variant(scratch, "before", before, rows, limit_s))
        lines.append(await _variant(scratch, "after", None, rows, limit_s))
    finally:
        problems = await scratch.cleanup()
        for p in problems:
            print(f"relay_drain: cleanup: {p}", file=sys.stderr)
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--before", help="the commit whose relay to measure first")
    parser.add_argument(
        "--limit-s",
        type=float,
        help="stop a variant after this many seconds and report what it drained by then",
    )
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "relay-drain-results.md")
    args = parser.parse_args()
    lines = asyncio.run(_main(args.rows, args.before, args.limit_s))
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    text = [
        f"## Draining: the relay of {args.before} against {commit}"
        if args.before
        else f"## Draining: the relay of {commit}",
        "",
        f"`PYTHONPATH=. .venv/bin/python bench/relay_drain.py {' '.join(sys.argv[1:])}` at "
        f"`{commit}`: the same backlog ({args.rows:,} order events of about "
        f"{len(_event(0)[5]):,} bytes, written as the worker writes them, over "
        f"{_ORDERS:,} orders) drained by the relay of each commit, one after the other, with the "
        "native Kafka and PostgreSQL on this machine.",
        "",
        "| variant | relay of | rows | drained in | rows/s | relay CPU µs per row "
        "| seconds per 50,000 rows, in order |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *lines,
        "",
    ]
    # A section added to the page, as the other comparisons do: the earlier ones stay.
    page = (
        args.out.read_text()
        if args.out.exists()
        else "# Relay: draining an outbox backlog\n\nSections are added by "
        "bench/relay_drain.py and bench/relay_follow.py, newest last.\n"
    )
    args.out.write_text(page.rstrip("\n") + "\n\n" + "\n".join(text))
    print(f"relay_drain: section added to {args.out}")


if __name__ == "__main__":
    main()
