"""`orderstate apikey`: a key's profile, unknown-field mode and time zone, set and shown;
and what each command says when it cannot do what was asked."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from pydantic import SecretStr

from orderstate.settings import Settings
from tests.support import databases
from tests.support.infra import Endpoints
from tests.support.processes import orderstate


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    return await orderstate(settings, "apikey", *args)


@pytest.fixture
async def unmigrated_url(endpoints: Endpoints) -> AsyncIterator[str]:
    name = f"orderstate_empty_{uuid.uuid4().hex[:12]}"
    await databases.create_empty(endpoints.database_url, name)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def _reading(url: str, key_id: str) -> tuple[str, str | None, str | None]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            "SELECT profile, unknown_fields, time_zone FROM api_keys WHERE key_id = $1", key_id
        )
    finally:
        await conn.close()
    assert row is not None
    return (row["profile"], row["unknown_fields"], row["time_zone"])


async def test_create_set_and_list_how_a_key_is_read(database_url: str) -> None:
    settings = Settings(database_url=SecretStr(database_url))
    code, plain, _ = await _cli(
        settings,
        "create",
        "--shop",
        "shop-a",
        "--profile",
        "spryker",
        "--time-zone",
        "Europe/Berlin",
    )
    assert code == 0
    key_id = plain.strip().split("_")[1]
    assert await _reading(database_url, key_id) == ("spryker", None, "Europe/Berlin")

    code, out, _ = await _cli(
        settings,
        "set",
        "--shop",
        "shop-a",
        key_id,
        "--profile",
        "woocommerce",
        "--unknown-fields",
        "refuse",
    )
    assert (code, out.strip()) == (
        0,
        f"{key_id}: profile=woocommerce unknown_fields=refuse time_zone=(setting)",
    )
    assert await _reading(database_url, key_id) == ("woocommerce", "refuse", None)

    code, out, _ = await _cli(settings, "list", "--shop", "shop-a")
    header, row = out.splitlines()
    assert header.split("\t") == [
        "key id",
        "created",
        "revoked",
        "profile",
        "unknown fields",
        "time zone",
        "label",
    ]
    assert row.split("\t")[:1] + row.split("\t")[2:] == [
        key_id,
        "active",
        "woocommerce",
        "refuse",
        "(setting)",
        "",
    ]


async def test_bad_values_are_refused_before_anything_is_written(database_url: str) -> None:
    settings = Settings(database_url=SecretStr(database_url))
    for args, message in (
        (("--profile", "magento"), "unknown profile 'magento'"),
        (("--time-zone", "Europe"), "'Europe' is not an IANA time zone"),
        (("--unknown-fields", "warn"), "--unknown-fields 'warn': use 'ignore' or 'refuse'"),
    ):
        code, _, err = await _cli(settings, "create", "--shop", "shop-a", *args)
        assert code == 1
        assert message in err
    conn = await asyncpg.connect(database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM api_keys") == 0
    finally:
        await conn.close()


async def test_every_command_before_migrate_says_to_migrate(unmigrated_url: str) -> None:
    settings = Settings(database_url=SecretStr(unmigrated_url))
    for args in (
        ("create", "--shop", "shop-a"),
        ("set", "--shop", "shop-a", "0123456789ab"),
        ("list", "--shop", "shop-a"),
        ("revoke", "--shop", "shop-a", "0123456789ab"),
    ):
        code, out, err = await _cli(settings, *args)
        assert (code, out, err) == (
            1,
            "",
            "orderstate: the database has no orderstate tables yet; run `orderstate migrate` "
            "first\n",
        ), args


async def test_list_says_no_keys_and_checks_the_shop_id_as_create_does(database_url: str) -> None:
    settings = Settings(database_url=SecretStr(database_url))
    assert await _cli(settings, "list", "--shop", "shop-nobody") == (
        0,
        "no keys for shop shop-nobody\n",
        "",
    )
    refused = "orderstate: --shop 'shop a': use 1-64 letters, digits, '.', '_', '~' or '-'\n"
    for command in ("create", "list"):
        assert await _cli(settings, command, "--shop", "shop a") == (1, "", refused)


async def test_revoke_says_which_of_unknown_other_shop_and_revoked_it_is(
    database_url: str,
) -> None:
    settings = Settings(database_url=SecretStr(database_url))
    code, plain, _ = await _cli(settings, "create", "--shop", "shop-a")
    assert code == 0
    key_id = plain.strip().split("_")[1]

    assert await _cli(settings, "revoke", "--shop", "shop-a", "0123456789ab") == (
        1,
        "",
        "orderstate: no key 0123456789ab; `orderstate apikey list --shop shop-a` shows the "
        "shop's keys\n",
    )
    assert await _cli(settings, "revoke", "--shop", "shop-b", key_id) == (
        1,
        "",
        f"orderstate: key {key_id} is not a key of shop shop-b; check --shop\n",
    )
    assert await _cli(settings, "revoke", "--shop", "shop-a", key_id) == (
        0,
        f"revoked {key_id}\n",
        "",
    )
    code, out, err = await _cli(settings, "revoke", "--shop", "shop-a", key_id)
    assert (code, out) == (1, "")
    assert err.startswith(f"orderstate: key {key_id} of shop shop-a was already revoked at 20")
    # `set` explains itself the same way.
    code, _, err = await _cli(settings, "set", "--shop", "shop-a", key_id)
    assert code == 1
    assert "was already revoked at" in err
