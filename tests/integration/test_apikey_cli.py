"""`orderstate apikey`: a key's profile, unknown-field mode and time zone, set and shown."""

import asyncio
import sys

import asyncpg

from orderstate.settings import Settings
from tests.support.processes import env_for


async def _cli(settings: Settings, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "apikey",
        *args,
        env=env_for(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


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
    settings = Settings(database_url=database_url)
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
    assert "profile=woocommerce unknown_fields=refuse time_zone=(setting)" in out


async def test_bad_values_are_refused_before_anything_is_written(database_url: str) -> None:
    settings = Settings(database_url=database_url)
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
