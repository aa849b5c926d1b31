"""The load of a fault-injection run: the simulator's records published at a steady rate,
and REST writes beside them, each retried the way a careful client retries."""

import asyncio
import bisect
import random
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from orderstate.simulation.generator import SimConfig, SimRecord, generate

__all__ = ["Publisher", "RestResult", "RestWriter", "records_for"]

# One shop's platform publishes with librdkafka's default partitioner (CRC32, as PHP's
# rdkafka extension does): most of its records land in a partition their key does not map to.
CRC32_SHOP = "shop-5"
PARTITIONS = 6


def records_for(count: int, seed: int) -> tuple[SimConfig, Iterator[SimRecord]]:
    """A simulated day of about ``count`` records (11 per order on average)."""
    config = SimConfig(shops=5, orders=max(count // 11, 10), seed=seed)
    return config, generate(config)


@dataclass
class Publisher:
    kafka: str
    rate: float
    published: int = 0
    retried: int = 0
    # Orders whose order.created went out, with when: REST writes pick from them.
    created: list[tuple[float, str, str]] = field(default_factory=list)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self, records: Iterator[SimRecord]) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.kafka,
            enable_idempotence=True,
            acks="all",
            linger_ms=5,
            request_timeout_ms=60_000,
        )
        await producer.start()
        started = time.monotonic()
        try:
            pending: list[asyncio.Future[Any]] = []
            for record in records:
                topic = (
                    "shop.orders.v1" if record.role.value == "orders_in" else "shop.shipments.v1"
                )
                partition = None
                shop = record.key.split(b":", 1)[0].decode()
                if shop == CRC32_SHOP:
                    partition = zlib.crc32(record.key) % PARTITIONS
                pending.append(await self._send(producer, topic, record, partition))
                self.published += 1
                if dict(record.headers).get("ce_type") == b"order.created":
                    order = record.key.split(b":", 1)[1].decode()
                    self.created.append((time.monotonic(), shop, order))
                if len(pending) >= 500:
                    await asyncio.gather(*pending)
                    pending.clear()
                ahead = self.published / self.rate - (time.monotonic() - started)
                if ahead > 0.05:
                    await asyncio.sleep(ahead)
            await asyncio.gather(*pending)
        finally:
            await producer.stop()
            self.done.set()

    async def _send(
        self, producer: Any, topic: str, record: SimRecord, partition: int | None
    ) -> "asyncio.Future[Any]":
        # The broker restart makes sends fail for a while: resend, as a platform would. A
        # resent record is a redelivery, which orderstate must recognise.
        while True:
            try:
                future: asyncio.Future[Any] = await producer.send(
                    topic,
                    key=record.key,
                    value=record.value,
                    headers=record.headers,
                    partition=partition,
                )
            except KafkaError:
                self.retried += 1
                await asyncio.sleep(1)
            else:
                return future


@dataclass
class RestResult:
    kind: str
    shop: str
    order: str
    status: int | None
    attempts: int
    # What must be in the final view if the answer was 2xx.
    expect: dict[str, Any]
    # For a state: how the answer says it was recorded (applied, late, duplicate).
    recorded_as: str | None = None


_TRACK = ["paid", "in_production", "warehouse_handover", "in_preparation"]
# Requests in flight at most. On a CPU-bound machine the api answers a write in 0.2-0.5 s
# (measured in a 60,000-record run at 1,000 records/s: all cores 99 % busy); 32 in flight
# held the writer to 40-60 requests/s whatever the rate asked.
_IN_FLIGHT = 64
# REST writes to simulated orders pick orders whose order.created went out this long ago, so
# that the worker has applied it even while it is behind after a fault: earlier, a write
# found no order (404) and did not count as a change.
_OLD_ENOUGH_S = 10.0


@dataclass
class RestWriter:
    base_url: str
    keys: dict[str, str]
    rate: float
    seed: int
    publisher: Publisher
    results: list[RestResult] = field(default_factory=list)
    _rest_orders: list[tuple[str, str, int]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        rng = random.Random(self.seed)
        async with httpx.AsyncClient(base_url=self.base_url, timeout=10) as client:
            sent = 0
            started = time.monotonic()
            running: set[asyncio.Task[None]] = set()
            while not stop.is_set():
                ahead = sent / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    await asyncio.sleep(min(ahead, 0.5))
                    continue
                if len(running) >= _IN_FLIGHT:
                    await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                    continue
                task = asyncio.create_task(self._one(client, rng, sent))
                running.add(task)
                task.add_done_callback(running.discard)
                sent += 1
            if running:
                await asyncio.wait(running)

    async def _one(self, client: httpx.AsyncClient, rng: random.Random, n: int) -> None:
        # Every slot sends one request: a slot that found nothing to do (a REST order at the
        # end of its track, no simulated order old enough yet) creates an order instead, so
        # the REST share of the changes is what the rate says.
        roll = rng.random()
        shop = rng.choice(sorted(self.keys))
        # The last 5,000 simulated orders created at least _OLD_ENOUGH_S ago. ``created`` is in time
        # order: a scan of the whole list per request grew with the run and slowed the writer
        # to a fifth of its rate by the end of a full run.
        created = self.publisher.created
        cut = bisect.bisect_left(created, time.monotonic() - _OLD_ENOUGH_S, key=lambda c: c[0])
        old = created[max(cut - 5000, 0) : cut]
        # Mostly writes that succeed (creates, a REST order's next state, tags): a state on
        # a simulated order is refused when the order has moved on, but it is the write that
        # races Kafka events for the same order, so some of them stay.
        if 0.35 <= roll < 0.7 and self._rest_orders:
            index = rng.randrange(len(self._rest_orders))
            rest_shop, order, step = self._rest_orders[index]
            if step < len(_TRACK):
                self._rest_orders[index] = (rest_shop, order, step + 1)
                await self._state(client, "state", rest_shop, order, _TRACK[step])
                return
        elif 0.7 <= roll < 0.9 and old:
            _, shop, order = rng.choice(old)
            tag = {f"rest-{n}": f"v{n}"}
            path = f"/v2/orders/{order}/tags"
            tags: dict[str, Any] = {"order_tags": tag}
            await self._call(client, "tag", shop, order, "PATCH", path, tags, {"tags": tag})
            return
        elif roll >= 0.9 and old:
            _, shop, order = rng.choice(old)
            await self._state(
                client, "sim_state", shop, order, rng.choice(["in_preparation", "paid"])
            )
            return
        order = f"REST-{n:07d}"
        body: dict[str, Any] = {
            "order_id": order,
            "order_url": "https://shop.example.com",
            "order_date": datetime.now(UTC).isoformat(),
            "items": [{"item_id": "1", "sku": "SKU-R", "quantity": 1}],
            "order_tags": {"channel": "rest"},
        }
        result = await self._call(client, "create", shop, order, "POST", "/v2/orders", body, {})
        if result.status is not None and 200 <= result.status < 300:
            self._rest_orders.append((shop, order, 0))

    async def _state(
        self, client: httpx.AsyncClient, kind: str, shop: str, order: str, state: str
    ) -> None:
        # A unique event time per write, so the history entry it makes can be found.
        at = datetime.now(UTC) - timedelta(microseconds=random.randrange(10**6))
        body = {"order_id": order, "state": state, "datetime": at.isoformat()}
        expect = {"state": state, "occurred_at": at}
        await self._call(client, kind, shop, order, "POST", "/v2/order-states", body, expect)

    async def _call(  # noqa: PLR0917 -- one request, spelled out at each call
        self,
        client: httpx.AsyncClient,
        kind: str,
        shop: str,
        order: str,
        method: str,
        path: str,
        body: dict[str, Any],
        expect: dict[str, Any],
    ) -> RestResult:
        headers = {"API-KEY": self.keys[shop], "Idempotency-Key": str(uuid.uuid4())}
        status: int | None = None
        recorded_as = None
        attempts = 0
        for attempts in range(1, 30):
            try:
                answer = await client.request(method, path, json=body, headers=headers)
                status = answer.status_code
                if status < 500:
                    if 200 <= status < 300 and kind in ("state", "sim_state"):
                        recorded_as = answer.json().get("recorded_as")
                    break
            except httpx.TransportError:
                status = None
            # The API was killed or PostgreSQL is restarting: retry with the same key.
            await asyncio.sleep(min(0.2 * 2**attempts, 2.0))
        result = RestResult(kind, shop, order, status, attempts, expect, recorded_as)
        self.results.append(result)
        return result
