"""``orderstate simulate``: publish simulated traffic, follow it through, print a summary: orders
per state, rejections per reason, and, when the order monitor runs, its alerts and live
counts."""

import asyncio
import time
import urllib.request
from collections import Counter, defaultdict
from dataclasses import dataclass, field

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from orderstate.kafka_client import kafka_options
from orderstate.projector.queries import query
from orderstate.settings import Settings
from orderstate.simulation.generator import SimConfig, SimRecord, generate

__all__ = ["AlertTally", "SimulationTimeoutError", "Summary", "print_summary", "simulate"]

_INFLIGHT = 2000


class SimulationTimeoutError(RuntimeError):
    pass


@dataclass(frozen=True)
class AlertTally:
    """The monitor's alerts of the simulated orders, per rule, and a few open ones."""

    open: dict[str, int]
    cleared: dict[str, int]
    examples: list[tuple[str, str, str]]


@dataclass
class Summary:
    published: Counter[str]
    seconds_to_publish: float
    seconds_to_process: float | None
    states: dict[str, int]
    rejections: dict[str, int]
    alerts: AlertTally | None = None
    # (shop, hour) -> count -> value, from the monitor's /metrics.
    hourly: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)

    @property
    def events_per_second(self) -> float | None:
        if not self.seconds_to_process:
            return None
        return sum(self.published.values()) / self.seconds_to_process


async def _end_offsets(settings: Settings, topics: list[str]) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(**kafka_options(settings, role="simulate-admin"))
    await admin.start()
    try:
        described = await admin.describe_topics(topics)
    finally:
        await admin.close()
    partitions = [
        TopicPartition(d["topic"], p["partition"]) for d in described for p in d["partitions"]
    ]
    consumer = AIOKafkaConsumer(**kafka_options(settings, role="simulate"))
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return ends


async def simulate(
    settings: Settings,
    config: SimConfig,
    *,
    wait: bool,
    timeout_s: float,
    console: Console,
    monitor_metrics: str | None = None,
) -> Summary:
    records = list(generate(config))
    pool = await asyncpg.create_pool(
        settings.database_url.get_secret_value(), min_size=1, max_size=2
    )
    try:
        run = _Simulation(settings, pool, console)
        before = await run.stored_offsets()
        started = time.monotonic()
        await run.publish(records)
        published_s = time.monotonic() - started
        processed_s = None
        if wait:
            await run.follow(before, timeout_s)
            processed_s = time.monotonic() - started
        states, rejections = await run.tallies(config)
        alerts = None
        hourly: dict[tuple[str, str], dict[str, int]] = {}
        if wait and monitor_metrics:
            await run.follow_monitor(timeout_s)
            alerts = await run.alerts(config)
            hourly = await asyncio.to_thread(_hourly_counts, monitor_metrics)
    finally:
        await pool.close()
    return Summary(
        published=Counter(r.kind.value for r in records),
        seconds_to_publish=published_s,
        seconds_to_process=processed_s,
        states=states,
        rejections=rejections,
        alerts=alerts,
        hourly=hourly,
    )


def _hourly_counts(url: str) -> dict[tuple[str, str], dict[str, int]]:
    """The monitor's live counts, from its /metrics, per shop and hour."""
    with urllib.request.urlopen(url, timeout=5) as answer:  # noqa: S310 -- our own ops port
        text = answer.read().decode()
    found: dict[tuple[str, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for family in text_string_to_metric_families(text):
        if family.name == "orderstate_monitor_orders_per_hour":
            for sample in family.samples:
                labels = sample.labels
                found[labels["shop_id"], labels["hour"]][labels["event"]] += int(sample.value)
        elif family.name == "orderstate_monitor_rejections_per_hour":
            for sample in family.samples:
                labels = sample.labels
                found[labels["shop_id"], labels["hour"]]["rejected"] += int(sample.value)
    return {key: dict(counts) for key, counts in found.items()}


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )


class _Simulation:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, console: Console) -> None:
        self.settings = settings
        self.pool = pool
        self.console = console
        self.topics = [settings.topic_orders, settings.topic_shipments]

    async def publish(self, records: list[SimRecord]) -> None:
        producer = AIOKafkaProducer(
            **kafka_options(self.settings, role="simulate"),
            enable_idempotence=True,
            acks="all",
            linger_ms=20,
        )
        await producer.start()
        try:
            with _progress(self.console) as progress:
                task = progress.add_task("publishing", total=len(records))
                inflight: list[asyncio.Future[object]] = []
                for record in records:
                    inflight.append(
                        await producer.send(
                            self.settings.topic_name(record.role),
                            value=record.value,
                            key=record.key,
                            headers=record.headers,
                        )
                    )
                    if len(inflight) >= _INFLIGHT:
                        await asyncio.gather(*inflight)
                        progress.advance(task, len(inflight))
                        inflight.clear()
                await asyncio.gather(*inflight)
                progress.advance(task, len(inflight))
        finally:
            await producer.stop()

    async def follow(self, before: dict[TopicPartition, int], timeout_s: float) -> None:
        """Wait until the worker stored offsets at the ends and the relay drained the outbox."""
        ends = await _end_offsets(self.settings, self.topics)
        target = sum(ends.values())
        base = sum(min(before.get(tp, 0), end) for tp, end in ends.items())
        with _progress(self.console) as progress:
            task = progress.add_task("processing", total=target - base)
            deadline = time.monotonic() + timeout_s
            while True:
                stored = await self.stored_offsets()
                async with self.pool.acquire() as conn:
                    unsent = await conn.fetchval(query("sim_unsent_outbox_rows"))
                done = sum(min(stored.get(tp, 0), end) for tp, end in ends.items())
                progress.update(task, completed=max(done - base, 0))
                if done >= target and unsent == 0:
                    return
                if time.monotonic() > deadline:
                    raise SimulationTimeoutError(
                        f"after {timeout_s:g} s the worker has applied {done - base} of "
                        f"{target - base} records and {unsent} outbox rows are unpublished; is "
                        "`orderstate run` (or worker and relay) running against the same topics "
                        "and database?"
                    )
                await asyncio.sleep(0.25)

    async def follow_monitor(self, timeout_s: float) -> None:
        """Wait until the monitor has committed every order event and rejection (it commits
        what it has published and stored), then for two ticks of its clock."""
        topics = [self.settings.topic_order_events, self.settings.topic_rejected]
        ends = await _end_offsets(self.settings, topics)
        admin = AIOKafkaAdminClient(**kafka_options(self.settings, role="simulate-admin"))
        await admin.start()
        deadline = time.monotonic() + timeout_s
        try:
            with _progress(self.console) as progress:
                task = progress.add_task("monitoring", total=sum(ends.values()))
                while True:
                    committed = await admin.list_consumer_group_offsets(self.settings.monitor_group)
                    done = sum(
                        min(committed[tp].offset, end) if tp in committed else 0
                        for tp, end in ends.items()
                    )
                    progress.update(task, completed=done)
                    if done >= sum(ends.values()):
                        break
                    if time.monotonic() > deadline:
                        raise SimulationTimeoutError(
                            f"after {timeout_s:g} s the order monitor (group "
                            f"{self.settings.monitor_group}) has processed {done} of "
                            f"{sum(ends.values())} records; is it running?"
                        )
                    await asyncio.sleep(0.5)
        finally:
            await admin.close()
        await asyncio.sleep(2 * self.settings.monitor_tick_ms / 1000 + 0.5)

    async def alerts(self, config: SimConfig) -> AlertTally:
        prefix = f"SIM-{config.seed}-%"
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(query("sim_alerts_per_rule"), prefix)
            examples = await conn.fetch(query("sim_open_alert_examples"), prefix)
        return AlertTally(
            open={r["rule"]: r["open"] for r in rows},
            cleared={r["rule"]: r["cleared"] for r in rows},
            examples=[
                (r["order_id"], r["rule"], r["deadline"].isoformat(timespec="minutes"))
                for r in examples
            ],
        )

    async def stored_offsets(self) -> dict[TopicPartition, int]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(query("sim_stored_offsets"), self.settings.consumer_group)
        return {TopicPartition(r["topic"], r["partition"]): r["next_offset"] for r in rows}

    async def tallies(self, config: SimConfig) -> tuple[dict[str, int], dict[str, int]]:
        prefix = f"SIM-{config.seed}-%"
        async with self.pool.acquire() as conn:
            states = await conn.fetch(query("sim_orders_per_state"), prefix)
            rejections = await conn.fetch(query("sim_rejections_per_reason"), prefix)
        return (
            {r["state"]: r["n"] for r in states},
            {r["reason"]: r["n"] for r in rejections},
        )


def print_summary(summary: Summary, console: Console) -> None:
    published = Table(title="Published records")
    published.add_column("kind")
    published.add_column("records", justify="right")
    for kind, count in summary.published.most_common():
        published.add_row(kind, str(count))
    published.add_row("total", str(sum(summary.published.values())), style="bold")
    console.print(published)

    states = Table(title="Orders per state")
    states.add_column("state")
    states.add_column("orders", justify="right")
    for state, count in summary.states.items():
        states.add_row(state, str(count))
    console.print(states)

    rejections = Table(title="Rejections per reason")
    rejections.add_column("reason")
    rejections.add_column("events", justify="right")
    for reason, count in summary.rejections.items():
        rejections.add_row(reason, str(count))
    console.print(rejections)

    if summary.alerts is not None:
        _print_monitor(summary, console)

    rate = summary.events_per_second
    console.print(
        f"published in {summary.seconds_to_publish:.1f} s"
        + (
            f"; published, projected and relayed in {summary.seconds_to_process:.1f} s "
            f"= {rate:,.0f} events/s end to end"
            if rate is not None and summary.seconds_to_process is not None
            else "; not waited for processing (--no-wait)"
        )
    )


def _print_monitor(summary: Summary, console: Console) -> None:
    assert summary.alerts is not None  # noqa: S101 -- the caller checks
    alerts = Table(title="Alerts of the order monitor (GET /v2/alerts)")
    alerts.add_column("rule")
    alerts.add_column("open", justify="right")
    alerts.add_column("raised and cleared", justify="right")
    for rule in sorted(set(summary.alerts.open) | set(summary.alerts.cleared)):
        alerts.add_row(
            rule, str(summary.alerts.open.get(rule, 0)), str(summary.alerts.cleared.get(rule, 0))
        )
    console.print(alerts)
    for order_id, rule, deadline in summary.alerts.examples:
        console.print(f"  open: {order_id} {rule}, due {deadline}")

    counts = ("created", "shipped", "completed", "rejected")
    per_hour: dict[str, Counter[str]] = defaultdict(Counter)
    per_shop: dict[str, Counter[str]] = defaultdict(Counter)
    for (shop, hour), found in summary.hourly.items():
        per_hour[hour].update(found)
        per_shop[shop].update(found)
    hours = Table(title="Live counts per hour, all shops (event time; the monitor's /metrics)")
    shops = Table(title=f"Live counts per shop, over those {len(per_hour)} hours")
    for table, first in ((hours, "hour"), (shops, "shop")):
        table.add_column(first)
        for name in counts:
            table.add_column(name, justify="right")
    for hour, found in sorted(per_hour.items()):
        hours.add_row(hour, *(str(found[c]) for c in counts))
    for shop, found in sorted(per_shop.items()):
        shops.add_row(shop, *(str(found[c]) for c in counts))
    console.print(hours)
    console.print(shops)
