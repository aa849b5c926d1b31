"""orderstate through PgBouncer in transaction mode, the pooler the README suggests.

Consecutive transactions of one client may run on different server connections there, and
named prepared statements do not survive (PgBouncer before 1.21). `orderstate migrate` takes a
transaction-scoped lock and caches no statement, so concurrent runs through the pooler work;
the api and the one-shot commands work with ORDERSTATE_DATABASE_STATEMENT_CACHE_SIZE=0.
PgBouncer runs here from the Debian package (installed by `make prereqs`), on a free port, as
an unprivileged user.
"""

import asyncio
import os
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from pydantic import SecretStr

from orderstate.projector import migrate
from orderstate.settings import Settings
from tests.support import databases
from tests.support.api import order_body, plain_api_key
from tests.support.infra import Endpoints
from tests.support.pipeline import wait_for
from tests.support.processes import api_process, env_for, free_port, orderstate


def _pgbouncer_binary() -> str:
    found = os.environ.get("ORDERSTATE_PGBOUNCER") or shutil.which("pgbouncer")
    for candidate in (found, "/usr/sbin/pgbouncer"):
        if candidate and Path(candidate).is_file():
            return candidate
    pytest.fail("pgbouncer is not installed: run `make prereqs`", pytrace=False)


def _through(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.username}:{parts.password}@127.0.0.1:{port}"))


@pytest.fixture(scope="module")
def pgbouncer(endpoints: Endpoints) -> Iterator[int]:
    """A transaction-mode PgBouncer in front of the test server; yields its port."""
    server = urlsplit(endpoints.database_url)
    port = free_port()
    # PgBouncer refuses to run as root: then it runs as the user of the PostgreSQL package,
    # which needs to read the configuration.
    folder = Path(tempfile.mkdtemp(prefix="orderstate-pgbouncer-"))
    folder.chmod(0o755)
    ini = folder / "pgbouncer.ini"
    ini.write_text(
        "[databases]\n"
        f"* = host={server.hostname} port={server.port} user={server.username} "
        f"password={server.password}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        "auth_type = any\npool_mode = transaction\n"
        # Few server connections: consecutive transactions of a client do move between them.
        "default_pool_size = 2\nmax_client_conn = 100\n",
        encoding="utf-8",
    )
    ini.chmod(stat.S_IRUSR | stat.S_IWUSR | stat.S_IRGRP | stat.S_IROTH)
    command = [_pgbouncer_binary(), str(ini)]
    if os.geteuid() == 0:
        command = ["runuser", "-u", "postgres", "--", *command]
    log = folder / "pgbouncer.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            if process.poll() is not None:
                pytest.fail(f"pgbouncer exited: {log.read_text()}", pytrace=False)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                subprocess.run(["sleep", "0.1"], check=True)
        yield port
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
async def empty_database(endpoints: Endpoints) -> AsyncIterator[str]:
    name = f"orderstate_pgbouncer_{uuid.uuid4().hex[:8]}"
    await databases.create_empty(endpoints.database_url, name)
    yield databases.with_database(endpoints.database_url, name)
    await databases.drop_database(endpoints.database_url, name)


async def _migrate(database_url: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "migrate",
        env=env_for(Settings(database_url=SecretStr(database_url))),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_concurrent_migrations_through_a_transaction_pooler(
    pgbouncer: int, empty_database: str
) -> None:
    pooled = _through(empty_database, pgbouncer)
    results = await asyncio.gather(*(_migrate(pooled) for _ in range(3)))

    assert [code for code, _ in results] == [0, 0, 0], results
    applied = [line for _, out in results for line in out.splitlines() if "applied" in line]
    # Each migration applied once, by whichever run got the lock first.
    assert len(applied) == migrate.head(), results
    conn = await asyncpg.connect(empty_database)
    try:
        level = await migrate.level(conn)
    finally:
        await conn.close()
    assert (level.database, level.usable) == (migrate.head(), True)


async def test_the_api_through_a_transaction_pooler_without_a_statement_cache(
    pgbouncer: int, database_url: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    settings = Settings(
        database_url=SecretStr(_through(database_url, pgbouncer)),
        kafka_bootstrap_servers=kafka_bootstrap,
    )
    key = await plain_api_key(
        database_url, "shop-pool", pepper=settings.api_key_pepper.get_secret_value(), label="t"
    )
    log = tmp_path / "api.log"
    async with (
        api_process(settings, log, ORDERSTATE_DATABASE_STATEMENT_CACHE_SIZE="0") as api,
        httpx.AsyncClient(base_url=api.base_url, headers={"API-KEY": key}) as client,
    ):

        async def ready() -> bool:
            try:
                ops = await client.get(f"{api.ops_url}/readyz")
            except httpx.TransportError:
                return False
            return ops.status_code == 200

        await wait_for(ready, timeout_s=30)
        answers = [await client.post("/v2/orders", json=order_body(f"PB-{n}")) for n in range(5)]
        answers += [await client.get(f"/v2/orders/PB-{n}") for n in range(5)]
    assert [a.status_code for a in answers] == [201] * 5 + [200] * 5, log.read_text()[-3000:]


async def test_the_commands_through_a_transaction_pooler_without_a_statement_cache(
    pgbouncer: int, database_url: str
) -> None:
    # README has operators run these in the api pod, whose settings name the pooler. They
    # opened their connection with asyncpg's statement cache whatever the setting said: its
    # named statements, numbered from 1 in every process, stayed on the pooler's server
    # connections, and the next run failed (DuplicatePreparedStatement).
    settings = Settings(database_url=SecretStr(_through(database_url, pgbouncer)))
    commands = [
        ("apikey", "create", "--shop", "shop-pool", "--label", "first"),
        ("apikey", "create", "--shop", "shop-pool", "--label", "second"),
        ("apikey", "list", "--shop", "shop-pool"),
        ("outbox", "list"),
        ("outbox", "list"),
        ("redrive", "--shop", "shop-pool", "--dry-run"),
        ("redrive", "--shop", "shop-pool", "--dry-run"),
    ]
    for args in commands:
        code, out, err = await orderstate(
            settings, *args, ORDERSTATE_DATABASE_STATEMENT_CACHE_SIZE="0"
        )
        assert code == 0, f"{' '.join(args)}: {out}{err}"
