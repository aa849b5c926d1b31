"""`orderstate policy check` on the real broker and server: the recent events of a shop,
read back from the inbound topics, decided under the current and a proposed policy, each
order from its state just before the window (from the order event log)."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from orderstate.settings import Settings
from tests.support.events import created, record, state
from tests.support.kafka import TopicNames
from tests.support.pipeline import produce, running, settings_for, wait_for
from tests.support.processes import orderstate
from tests.unit.domain.factories import DEFAULT_TABLE, STRICT_TABLE

SHOP = "shop-p"


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


def _policy(tmp_path: Path, name: str, table: dict[str, Any]) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps({"shops": {SHOP: {"transitions": table}}}))
    return path


async def _snapshot(settings: Settings, kafka: str, topics: TopicNames) -> tuple[object, ...]:
    """Everything the check could have written to: row counts and the inbound topics' ends."""
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        counts = tuple(
            [
                await conn.fetchval(f"SELECT count(*) FROM {t}")  # noqa: S608 -- fixed names
                for t in ("orders", "order_events", "rejected_events", "processed_events", "outbox")
            ]
        )
    finally:
        await conn.close()
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(
            [TopicPartition(t, p) for t in topics.all for p in range(6)]
        )
    finally:
        await consumer.stop()
    return (*counts, tuple(sorted((str(tp), n) for tp, n in ends.items())))


async def _processed(settings: Settings, n: int) -> bool:
    conn = await asyncpg.connect(settings.database_url.get_secret_value())
    try:
        return int(await conn.fetchval("SELECT count(*) FROM processed_events")) >= n
    finally:
        await conn.close()


async def test_what_a_stricter_or_looser_policy_decides_differently(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    a_skip = state("in_preparation", shop=SHOP, order="A", minutes=3)
    c_skip = state("in_preparation", shop=SHOP, order="C", minutes=1)
    async with running(settings):
        # Before the window: A is created and paid.
        await produce(
            kafka_bootstrap,
            topics.orders,
            [record(created(shop=SHOP, order="A")), record(state("paid", shop=SHOP, order="A"))],
        )
        await wait_for(lambda: _processed(settings, 2))
        await asyncio.sleep(1.2)
        since = datetime.now(UTC)
        await asyncio.sleep(1.2)
        # In the window: A skips in_production; B goes step by step; C skips from new and is
        # then cancelled; another shop's events are not looked at.
        await produce(
            kafka_bootstrap,
            topics.orders,
            [
                record(a_skip),
                record(created(shop=SHOP, order="B")),
                record(state("paid", shop=SHOP, order="B", minutes=1)),
                record(state("in_production", shop=SHOP, order="B", minutes=2)),
                record(created(shop=SHOP, order="C")),
                record(c_skip),
                record(state("cancelled", shop=SHOP, order="C", minutes=2)),
                record(created(shop="shop-other", order="X")),
                record(state("in_preparation", shop="shop-other", order="X")),
            ],
        )
        await wait_for(lambda: _processed(settings, 11))

    before = await _snapshot(settings, kafka_bootstrap, topics)
    strict = _policy(tmp_path, "strict.json", STRICT_TABLE)
    window = since.isoformat()
    code, out, err = await orderstate(settings, "policy", "check", str(strict), "--since", window)
    assert code == 1, out + err
    assert f"{SHOP}: 3 orders, 7 events decided again; 2 decided differently" in out
    assert f"  {SHOP}  applied -> rejected transition_not_allowed: 2" in out
    # A is judged from "paid", its state before the window (from the order event log): were
    # it judged from nothing, every one of its events would be unknown_order either way.
    assert (
        f"  {SHOP}:A  {a_skip.id}  order.state_changed  applied -> rejected transition_not_allowed"
    ) in out
    assert f"  {SHOP}:C  {c_skip.id}  order.state_changed" in out
    assert "shop-other" not in out

    # The other way round: the strict table is current, the default table proposed.
    loose = _policy(tmp_path, "loose.json", DEFAULT_TABLE)
    code, out, _ = await orderstate(
        settings,
        "policy",
        "check",
        str(loose),
        "--since",
        window,
        ORDERSTATE_POLICY_FILE=str(strict),
    )
    assert code == 1
    assert f"  {SHOP}  rejected transition_not_allowed -> applied: 2" in out

    # The same policy as the current one: nothing differs.
    code, out, _ = await orderstate(settings, "policy", "check", str(loose), "--since", window)
    assert code == 0, out
    assert f"{SHOP}: 3 orders, 7 events decided again; 0 decided differently" in out
    assert "no event would be decided differently" in out

    assert await _snapshot(settings, kafka_bootstrap, topics) == before


async def test_an_invalid_proposed_file_is_refused_with_what_is_wrong(
    settings: Settings, tmp_path: Path
) -> None:
    dead_edge = tmp_path / "bad.yaml"
    dead_edge.write_text(f"shops:\n  {SHOP}:\n    transitions:\n      paid: [new]\n")
    code, _, err = await orderstate(settings, "policy", "check", str(dead_edge))
    assert code == 2
    assert (
        f"orderstate: {dead_edge}: policy 'shop {SHOP}': paid -> new cannot be a transition" in err
    )

    missing = tmp_path / "missing.json"
    code, _, err = await orderstate(settings, "policy", "check", str(missing))
    assert code == 2
    assert f"orderstate: policy file {missing}: No such file or directory" in err

    no_shops = tmp_path / "empty.json"
    no_shops.write_text("{}")
    code, _, err = await orderstate(settings, "policy", "check", str(no_shops))
    assert code == 2
    assert "names no shop under 'shops'; name the shops to check with --shop" in err


async def test_missing_inbound_topics_are_exit_code_3(settings: Settings, tmp_path: Path) -> None:
    elsewhere = settings.model_copy(update={"topic_orders": f"{settings.topic_orders}.missing"})
    strict = _policy(tmp_path, "strict.json", STRICT_TABLE)
    code, _, err = await orderstate(elsewhere, "policy", "check", str(strict))
    assert code == 3
    assert f"the inbound topic {elsewhere.topic_orders} does not exist" in err


async def test_events_of_an_aborted_transaction_are_not_decided_again(
    settings: Settings, kafka_bootstrap: str, topics: TopicNames, tmp_path: Path
) -> None:
    """The worker reads read_committed, so what a producer aborted was never decided: the
    check must not decide it either (it read read_uncommitted, and reported Z's skip)."""
    since = datetime.now(UTC)
    await asyncio.sleep(1.2)
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{topics.orders}"
    )
    await producer.start()
    try:
        await producer.begin_transaction()
        for change in (
            created(shop=SHOP, order="Z"),
            state("in_preparation", shop=SHOP, order="Z", minutes=1),
        ):
            key, value, headers = record(change)
            await producer.send_and_wait(topics.orders, key=key, value=value, headers=headers)
        await producer.abort_transaction()
    finally:
        await producer.stop()

    strict = _policy(tmp_path, "strict.json", STRICT_TABLE)
    code, out, err = await orderstate(
        settings, "policy", "check", str(strict), "--since", since.isoformat()
    )
    assert code == 0, out + err
    assert f"{SHOP}:Z" not in out
    assert "no event would be decided differently" in out
