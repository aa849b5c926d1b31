"""`orderstate redrive` on the real broker and server: a rejection of a strict policy is
appended again once the policy is relaxed, and the order moves on; the dry run predicts it
and changes nothing; a second run appends nothing; expired parked shipment events are
redriven once their order exists; malformed records are left out, saying why."""

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pydantic import SecretStr

from orderstate.domain import load_policy_book
from orderstate.repair.redrive_plan import redrive_id
from orderstate.settings import Settings
from tests.support.events import T0, created, event, record, shipment, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import consume_until, produce, running, settings_for, wait_for
from tests.support.processes import orderstate
from tests.support.projection import caught_up
from tests.unit.domain.factories import STRICT_TABLE

SHOP = "shop-strict"


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


async def _fetch(settings: Settings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _state(settings: Settings, order: str) -> str | None:
    rows = await _fetch(
        settings, "SELECT state FROM orders WHERE shop_id = $1 AND order_id = $2", SHOP, order
    )
    return rows[0]["state"] if rows else None


async def _count(settings: Settings, table: str) -> int:
    return int((await _fetch(settings, f"SELECT count(*) AS n FROM {table}"))[0]["n"])  # noqa: S608 -- a fixed table name


async def _ends(kafka: str, topics: TopicNames) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in topics.inbound for p in range(6)]
        return dict(await consumer.end_offsets(tps))
    finally:
        await consumer.stop()


def _per_order(out: str) -> list[str]:
    """The order-by-order lines of the command's output."""
    return [line for line in out.splitlines() if line.startswith((f"{SHOP}:", "  "))]


async def test_a_strict_rejection_is_redriven_after_the_policy_is_relaxed(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    strict = load_policy_book({"shops": {SHOP: {"transitions": STRICT_TABLE}}})
    skip = state("in_preparation", shop=SHOP, order="A", minutes=2)
    async with running(settings, policies=strict):
        await produce(
            kafka_bootstrap,
            topics.orders,
            [
                record(created(shop=SHOP, order="A")),
                record(state("paid", shop=SHOP, order="A", minutes=1)),
                record(skip),
                (f"{SHOP}:B".encode(), b"not json", []),
            ],
        )
        await wait_for(lambda: _has_rejections(settings, 2))
    assert await _state(settings, "A") == "paid"

    # The policy is relaxed (the default table allows skipping states).
    async with running(settings):
        before = (await _ends(kafka_bootstrap, topics), await _count(settings, "rejected_events"))
        code, dry, err = await orderstate(settings, "redrive", "--shop", SHOP, "--dry-run")
        assert code == 0, err
        assert "selected 2 rejections (shops shop-strict; every reason)" in dry
        assert "left out 1: malformed records never decoded into an event" in dry
        assert _per_order(dry) == [
            f"{SHOP}:A  paid -> in_preparation",
            f"  {skip.id}  order.state_changed  was transition_not_allowed at "
            f"{_rejected_at(dry)}  ->  applied",
        ]
        assert "predicted: 1 event of 1 order: applied 1" in dry
        # The dry run appended nothing and changed nothing.
        after = (await _ends(kafka_bootstrap, topics), await _count(settings, "rejected_events"))
        assert after == before
        assert await _state(settings, "A") == "paid"

        code, real, _ = await orderstate(settings, "redrive", "--shop", SHOP, "--wait", "60")
        assert code == 0, real
        assert "appended 1 event to the inbound topics" in real
        # What the worker did is what the dry run said it would do.
        assert _per_order(real) == _per_order(dry)
        assert "decided: 1 event of 1 order: applied 1" in real
        assert await _state(settings, "A") == "in_preparation"
        history = await _fetch(
            settings,
            "SELECT state, occurred_at, cause_event_id FROM order_state_history "
            "WHERE shop_id = $1 AND order_id = 'A' ORDER BY seq",
            SHOP,
        )
        # Applied with its original event time, caused by the redriven event.
        assert [(h["state"], h["occurred_at"], h["cause_event_id"]) for h in history][-1] == (
            "in_preparation",
            T0 + timedelta(minutes=2),
            redrive_id(skip.source, skip.id),
        )

        ends = await _ends(kafka_bootstrap, topics)
        code, again, _ = await orderstate(settings, "redrive", "--shop", SHOP, "--wait", "5")
        assert code == 0
        assert "left out 1: already redriven" in again
        assert "nothing to redrive" in again
        assert await _ends(kafka_bootstrap, topics) == ends


async def test_the_redriven_record_carries_its_origin_and_is_decided_once(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames
) -> None:
    strict = load_policy_book({"shops": {SHOP: {"transitions": STRICT_TABLE}}})
    skip = state("in_production", shop=SHOP, order="C", minutes=2)
    async with running(settings, policies=strict):
        await produce(
            kafka_bootstrap, topics.orders, [record(created(shop=SHOP, order="C")), record(skip)]
        )
        await wait_for(lambda: _has_rejections(settings, 1))

    # No worker runs: the redrive is appended, and not decided within --wait.
    code, out, _ = await orderstate(settings, "redrive", "--shop", SHOP, "--wait", "1")
    assert code == 1, out
    assert "the worker has not decided 1 of them within 1 s" in out
    # Run again before the worker got to it: the same event, with the same id, again.
    code, out, _ = await orderstate(settings, "redrive", "--shop", SHOP, "--wait", "0")
    assert code == 0, out
    assert "appended 1 event to the inbound topics" in out

    rid = redrive_id(skip.source, skip.id)
    seen = await consume_until(
        kafka_bootstrap, topics.orders, lambda got: sum(p.id == rid for p in got) >= 2
    )
    copies = [p for p in seen if p.id == rid]
    assert len(copies) == 2
    for redriven in copies:
        assert redriven.headers["ce_redriveof"] == skip.id
        assert redriven.key == skip.key
        assert redriven.data == skip.data
        assert {k: redriven.headers[f"ce_{k}"] for k in ("source", "type", "time")} == {
            "source": skip.source,
            "type": skip.type,
            "time": skip.model_dump(mode="json")["time"],
        }

    # The relaxed worker applies it once; the second copy is a duplicate.
    async with running(settings):
        await wait_for(
            lambda: caught_up(
                kafka_bootstrap,
                settings.database_url.get_secret_value(),
                settings.consumer_group,
                topics.inbound,
            )
        )
    rows = await _fetch(
        settings,
        "SELECT state FROM order_state_history WHERE shop_id = $1 AND order_id = 'C' ORDER BY seq",
        SHOP,
    )
    assert [r["state"] for r in rows] == ["new", "in_production"]
    outcomes = await _fetch(
        settings, "SELECT outcome FROM processed_events WHERE event_id = $1", rid
    )
    assert [r["outcome"] for r in outcomes] == ["applied"]


async def test_an_expired_parked_shipment_is_redriven_once_its_order_exists(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    quick = {"shops": {SHOP: {"transitions": STRICT_TABLE, "park_ttl_seconds": 1}}}
    early = shipment("S1", shop=SHOP, order="P")
    async with running(settings, policies=load_policy_book(quick)):
        await produce(kafka_bootstrap, topics.shipments, [record(early)])
        await wait_for(lambda: _parked(settings, 1))
        # The order comes after the shipment's wait: the log clock passes its deadline first.
        await asyncio.sleep(1.5)
        order = event(
            "order.created", {"order_date": T0.isoformat()}, shop=SHOP, order="P", minutes=5
        )
        await produce(kafka_bootstrap, topics.orders, [record(order)])
        await wait_for(lambda: _has_rejections(settings, 1))
    assert await _state(settings, "P") == "new"
    (reason,) = await _fetch(settings, "SELECT reason FROM rejected_events")
    assert reason["reason"] == "unknown_order"

    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps(quick))
    async with running(settings, policies=load_policy_book(quick)):
        code, dry, _ = await orderstate(
            settings,
            "redrive",
            "--expired-parked",
            "--dry-run",
            ORDERSTATE_POLICY_FILE=str(policy),
        )
        assert code == 0, dry
        assert _per_order(dry)[0] == f"{SHOP}:P  new -> shipped"
        assert "was unknown_order (expired parked)" in dry
        code, real, _ = await orderstate(
            settings, "redrive", "--expired-parked", ORDERSTATE_POLICY_FILE=str(policy)
        )
        assert code == 0, real
        assert _per_order(real) == _per_order(dry)
    assert await _state(settings, "P") == "shipped"


async def test_nothing_selected_and_bad_arguments(settings: Settings) -> None:
    code, out, _ = await orderstate(settings, "redrive", "--shop", "nobody", "--dry-run")
    assert (code, out.splitlines()[-1]) == (0, "nothing to redrive")

    code, _, err = await orderstate(settings, "redrive", "--reason", "no_such_reason")
    assert code == 2
    assert "--reason no_such_reason: not a reason code" in err

    code, _, err = await orderstate(settings, "redrive", "--since", "yesterday")
    assert code == 2
    assert "--since: 'yesterday' is not a moment" in err


async def test_an_unreachable_database_is_exit_code_3(settings: Settings) -> None:
    unreachable = settings.model_copy(
        update={"database_url": SecretStr("postgresql://u:p@127.0.0.1:1/x")}
    )
    code, _, err = await orderstate(unreachable, "redrive", "--dry-run")
    assert code == 3
    assert "cannot connect to PostgreSQL" in err


def _rejected_at(out: str) -> str:
    line = next(line for line in out.splitlines() if " was " in line)
    return line.split(" at ", 1)[1].split("  ->")[0]


async def _has_rejections(settings: Settings, n: int) -> bool:
    return await _count(settings, "rejected_events") >= n


async def _parked(settings: Settings, n: int) -> bool:
    return await _count(settings, "parked_events") >= n
