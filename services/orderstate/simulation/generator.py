"""Realistic traffic for ``orderstate simulate`` and the benchmarks.

Each order runs a whole lifecycle the way shops really send it: payment and
warehouse systems racing (late states), shipments that arrive before their
order, redeliveries, some invalid transitions and some malformed records.
Orders are interleaved so a batch holds many orders, as in production.

Two shares, off by default so that benchmarks keep the traffic of earlier runs, give the order
monitor something to find: ``promised`` orders carry a promised delivery date four hours after
ordering (most are delivered later than that: order_delayed, cleared on delivery), and
``overdue`` adds orders from three days before the simulated day that were paid (some also
prepared) and then never moved again (state deadlines, and delayed for good).
"""

import json
import random
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from orderstate.events.envelope import CloudEvent, encode_binary
from orderstate.events.topics import TopicRole

__all__ = ["Kind", "SimConfig", "SimRecord", "generate"]


class Kind(StrEnum):
    VALID = "valid"
    DUPLICATE = "duplicate"
    LATE = "late"
    INVALID = "invalid"
    MALFORMED = "malformed"
    RACE = "race"


@dataclass(frozen=True, slots=True)
class SimRecord:
    role: TopicRole
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]
    kind: Kind


@dataclass(frozen=True)
class SimConfig:
    shops: int = 5
    orders: int = 1000
    seed: int = 1
    # Per real event; about 20 % of all records end up duplicates, 5 % rejections.
    duplicate_rate: float = 0.27
    invalid_rate: float = 0.05
    malformed_rate: float = 0.012
    late_rate: float = 0.06
    race_rate: float = 0.15
    # Orders in flight at once; their events interleave.
    concurrency: int = 50
    start: datetime = field(default_factory=lambda: datetime.now(UTC))
    # Share of orders promised for delivery 4 hours after ordering.
    promised: float = 0.0
    # Stalled orders from three days earlier, as a share of ``orders``, on top of them.
    overdue: float = 0.0


# How long before the simulated day the stalled orders were placed, and the promise they got.
_STALLED_BEFORE = timedelta(days=3)
_PROMISE = timedelta(hours=4)


_STATES = ["paid", "in_production", "warehouse_handover", "in_preparation"]
_CARRIERS = ["dhl", "dpd", "gls", "ups", "hermes"]


class _Order:
    def __init__(  # noqa: PLR0917 -- an order's identity, start and the two odds that shape it
        self,
        rng: random.Random,
        shop: str,
        order_id: str,
        t0: datetime,
        race_rate: float,
        promise: datetime | None = None,
    ) -> None:
        self.rng = rng
        self.race_rate = race_rate
        self.shop = shop
        self.order_id = order_id
        self.t = t0
        self.n = 0
        self.promise = promise
        self.plan = self._plan()

    def _tick(self) -> datetime:
        self.t += timedelta(minutes=self.rng.randint(1, 90))
        return self.t

    def _event(self, type_name: str, data: dict[str, Any]) -> tuple[str, dict[str, Any], datetime]:
        return type_name, data, self._tick()

    def _plan(self) -> list[tuple[TopicRole, str, dict[str, Any], Kind]]:
        rng = self.rng
        items = [
            {
                "item_id": f"l{i}",
                "sku": f"SKU-{rng.randint(1000, 9999)}",
                "name": f"Article {i}",
                "quantity": rng.randint(1, 3),
                "unit_price": f"{rng.randint(1, 200)}.{rng.randint(0, 99):02d}",
                "currency": "EUR",
            }
            for i in range(rng.randint(1, 4))
        ]
        boarding_at_create = rng.random() < 0.5
        steps: list[tuple[TopicRole, str, dict[str, Any], Kind]] = [
            (
                TopicRole.ORDERS_IN,
                "order.created",
                {
                    "order_url": "https://shop.example.com",
                    "order_date": self.t.isoformat(),
                    "language": rng.choice(["de", "en", "fr", "nl"]),
                    "order_tags": {"channel": rng.choice(["web", "app", "marketplace"])},
                    "boarding_complete": boarding_at_create,
                    "items": items,
                    **(
                        {"promised_delivery_date": self.promise.isoformat()}
                        if self.promise is not None
                        else {}
                    ),
                },
                Kind.VALID,
            )
        ]
        orders_in = TopicRole.ORDERS_IN
        cod = rng.random() < 0.1
        track = [s for s in _STATES if rng.random() < 0.7 and not (cod and s == "paid")]
        for s in track:
            steps.append((orders_in, "order.state_changed", {"state": s}, Kind.VALID))
        if rng.random() < 0.08:
            steps.append((orders_in, "order.state_changed", {"state": "cancelled"}, Kind.VALID))
            if "paid" in track:
                steps.append((orders_in, "order.state_changed", {"state": "refunded"}, Kind.VALID))
            return steps
        ship = f"SHP-{self.order_id}"
        shipment = (
            TopicRole.SHIPMENTS_IN,
            "shipment.created",
            {
                "shipment_id": ship,
                "direction": "outbound",
                "carrier": rng.choice(_CARRIERS),
                "tracking_code": f"00{rng.randint(10**15, 10**16)}",
            },
            Kind.VALID,
        )
        if rng.random() < self.race_rate:
            steps.insert(0, (*shipment[:3], Kind.RACE))
        else:
            steps.append(shipment)
        if not boarding_at_create:
            steps.append(
                (orders_in, "order.boarding_completed", {"boarding_complete": True}, Kind.VALID)
            )
        for status in ("in_transit", "out_for_delivery", "delivered"):
            steps.append(
                (
                    TopicRole.SHIPMENTS_IN,
                    "shipment.status_changed",
                    {"shipment_id": ship, "status": status},
                    Kind.VALID,
                )
            )
        if rng.random() < 0.1:
            steps.append((orders_in, "order.state_changed", {"state": "returned"}, Kind.VALID))
            steps.append(
                (
                    TopicRole.SHIPMENTS_IN,
                    "shipment.created",
                    {"shipment_id": f"RET-{self.order_id}", "direction": "return"},
                    Kind.VALID,
                )
            )
            if not cod:
                steps.append((orders_in, "order.state_changed", {"state": "refunded"}, Kind.VALID))
        return steps


def _late(rng: random.Random) -> tuple[str, dict[str, Any], Kind]:
    return "order.state_changed", {"state": rng.choice(["paid", "new"])}, Kind.LATE


def _invalid(rng: random.Random) -> tuple[str, dict[str, Any], Kind]:
    # Never valid from a track state: derived states, or a refund before return or cancel.
    state = rng.choice(["shipped", "completed", "refunded"])
    return "order.state_changed", {"state": state}, Kind.INVALID


def _stalled(config: SimConfig, rng: random.Random) -> Iterator[SimRecord]:
    """Orders placed three days before the simulated day, paid, some prepared, and then never
    moved again: their deadlines passed long ago."""
    counter = 0
    for n in range(round(config.orders * config.overdue)):
        t0 = config.start - _STALLED_BEFORE + timedelta(minutes=n)
        order = _Order(
            rng,
            f"shop-{n % config.shops + 1}",
            f"SIM-{config.seed}-S{n:06d}",
            t0,
            0.0,
            promise=t0 + timedelta(days=1),
        )
        stop_after = "in_preparation" if n % 3 == 0 else "paid"
        steps = [order.plan[0]]
        for step in order.plan[1:]:
            if step[1] != "order.state_changed" or step[2]["state"] == "cancelled":
                continue
            steps.append(step)
            if step[2]["state"] == stop_after:
                break
        for role, type_name, data, kind in steps:
            counter += 1
            yield _record(order, counter, role, type_name, data, kind, config, prefix="stalled")


def generate(config: SimConfig) -> Iterator[SimRecord]:
    """Yield records in publishing order."""
    rng = random.Random(config.seed)
    # The monitor's shares draw from their own generator, so the rest stays as it was.
    shares = random.Random(config.seed + 7_919)
    yield from _stalled(config, shares)
    pending = []
    for n in range(config.orders):
        t0 = config.start + timedelta(seconds=n)
        promised = config.promised > 0 and shares.random() < config.promised
        pending.append(
            _Order(
                rng,
                f"shop-{n % config.shops + 1}",
                f"SIM-{config.seed}-{n:07d}",
                t0,
                config.race_rate,
                promise=t0 + _PROMISE if promised else None,
            )
        )
    pending.reverse()
    active: list[tuple[_Order, int]] = []
    # Redeliveries repeat one of the last 200 records; older ones need not be kept.
    sent: deque[SimRecord] = deque(maxlen=200)
    counter = 0
    while pending or active:
        while pending and len(active) < config.concurrency:
            active.append((pending.pop(), 0))
        index = rng.randrange(len(active))
        order, step = active[index]
        role, type_name, data, kind = order.plan[step]
        if step + 1 < len(order.plan):
            active[index] = (order, step + 1)
        else:
            active.pop(index)
        counter += 1
        record = _record(order, counter, role, type_name, data, kind, config)
        sent.append(record)
        yield record
        # Extra traffic around a real step: redeliveries, late, invalid and broken records.
        roll = rng.random()
        bands = (
            (config.duplicate_rate, Kind.DUPLICATE),
            (config.late_rate, Kind.LATE),
            (config.invalid_rate, Kind.INVALID),
            (config.malformed_rate, Kind.MALFORMED),
        )
        extra = None
        for rate, extra_kind in bands:
            if roll < rate:
                extra = extra_kind
                break
            roll -= rate
        if extra is Kind.DUPLICATE:
            yield _duplicate(rng.choice(sent))
        elif extra is Kind.MALFORMED:
            counter += 1
            yield _malformed(rng, order, counter)
        elif extra is not None and step >= 2:
            counter += 1
            type_name, data, kind = _late(rng) if extra is Kind.LATE else _invalid(rng)
            yield _record(order, counter, TopicRole.ORDERS_IN, type_name, data, kind, config)


def _duplicate(original: SimRecord) -> SimRecord:
    return SimRecord(original.role, original.key, original.value, original.headers, Kind.DUPLICATE)


def _record(  # noqa: PLR0917 -- one call site per kind; a parameter object would only rename these
    order: _Order,
    counter: int,
    role: TopicRole,
    type_name: str,
    data: dict[str, Any],
    kind: Kind,
    config: SimConfig,
    *,
    prefix: str = "sim",
) -> SimRecord:
    when = order._tick()
    body = dict(data)
    if type_name == "order.state_changed":
        occurred = when - timedelta(days=2) if kind is Kind.LATE else when
        body["occurred_at"] = occurred.isoformat()
    event = CloudEvent(
        specversion="1.0",
        id=f"{prefix}-{config.seed}-{counter}",
        source=f"https://{order.shop}.example.com/events",
        type=type_name,
        time=when,
        shopid=order.shop,
        orderid=order.order_id,
        data=body,
    )
    headers, value = encode_binary(event)
    return SimRecord(role, event.key.encode(), value, headers, kind)


def _malformed(rng: random.Random, order: _Order, counter: int) -> SimRecord:
    key = f"{order.shop}:{order.order_id}".encode()
    broken = rng.choice(
        [
            b'{"state": "paid", "occurred_at": ',
            json.dumps({"state": "paid", "occurred_at": "2026-01-01T10:00:00"}).encode(),
        ]
    )
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", f"sim-bad-{counter}".encode()),
        ("ce_source", b"https://broken.example.com"),
        ("ce_type", b"order.state_changed"),
        ("ce_time", datetime.now(UTC).isoformat().encode()),
        ("ce_shopid", order.shop.encode()),
        ("ce_orderid", order.order_id.encode()),
    ]
    return SimRecord(TopicRole.ORDERS_IN, key, broken, headers, Kind.MALFORMED)
