"""The commands that publish to or read Kafka name unusable Kafka TLS files as a configuration
error (exit 2, one line), as the worker and relay do, before any work: they used to fail
where the Kafka client was made, with a traceback and exit 1, which means "appended",
"some would differ" and "invalid lines" for these three."""

import json
from pathlib import Path

import pytest

from orderstate.settings import Settings
from tests.support.backfill import ours
from tests.support.kafka import TopicNames
from tests.support.pipeline import settings_for
from tests.support.processes import orderstate
from tests.unit.domain.factories import STRICT_TABLE


@pytest.fixture
def settings(kafka_bootstrap: str, database_url: str, topics: TopicNames) -> Settings:
    return settings_for(kafka_bootstrap, database_url, topics)


async def _run(settings: Settings, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    """The command with TLS on and a CA file that is not there."""
    return await orderstate(
        settings,
        *args,
        ORDERSTATE_KAFKA_SECURITY_PROTOCOL="SSL",
        ORDERSTATE_KAFKA_SSL_CAFILE=str(tmp_path / "missing-ca.pem"),
    )


async def test_redrive_policy_check_and_backfill_name_the_setting(
    settings: Settings, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"shops": {"shop-t": {"transitions": STRICT_TABLE}}}))
    orders = tmp_path / "orders.ndjson"
    # A valid line, so that backfill gets as far as publishing (where it used to fail).
    orders.write_text(json.dumps(ours("WEB-1")) + "\n")
    commands = {
        "redrive": ("redrive", "--shop", "shop-t"),
        "policy check": ("policy", "check", str(policy)),
        "backfill": ("backfill", str(orders), "--shop", "shop-t"),
    }
    for name, args in commands.items():
        code, out, err = await _run(settings, tmp_path, *args)
        where = f"{name}: {out}{err}"
        assert code == 2, where
        assert "the Kafka TLS files cannot be read (No such file or directory)" in err, where
        assert "check ORDERSTATE_KAFKA_SSL_CAFILE" in err, where
        assert "Traceback" not in err, where


async def test_a_dry_run_needs_no_kafka_files(settings: Settings, tmp_path: Path) -> None:
    # A dry run of redrive reads PostgreSQL only: a broken Kafka setting does not stop it.
    code, out, err = await _run(settings, tmp_path, "redrive", "--shop", "shop-t", "--dry-run")
    assert (code, "nothing to redrive" in out) == (0, True), out + err
