"""PostgreSQL over TLS with sslmode=verify-full: a second server, started here on a free port
by deploy/local/postgres.sh (as the unprivileged postgres user when the tests run as root),
accepts TCP clients only over TLS, with a certificate of a CA this test makes. orderstate
migrates and serves through it; a client that trusts another CA is refused at once."""

import asyncio
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest
from pydantic import SecretStr

from orderstate.settings import Settings
from orderstate.startup import open_pool
from tests.support.infra import LOCAL
from tests.support.processes import free_port
from tests.support.tls import Authority, make_authority, make_other_authority


@pytest.fixture(scope="module")
def tls_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Authority]]:
    folder = tmp_path_factory.mktemp("pg-tls")
    authority = make_authority(folder / "ca", java_stores=False)
    port = free_port()
    env = {
        **os.environ,
        "ORDERSTATE_LOCAL_DIR": str(folder / "local"),
        "ORDERSTATE_LOCAL_PG_PORT": str(port),
        "ORDERSTATE_LOCAL_PG_FAST": "1",
        "ORDERSTATE_LOCAL_PG_TLS_DIR": str(authority.folder),
    }

    def script(command: str) -> str:
        result = subprocess.run(
            [str(LOCAL / "postgres.sh"), command],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(f"postgres.sh {command}:\n{result.stdout}{result.stderr}", pytrace=False)
        return result.stdout + result.stderr

    started = script("start")
    try:
        yield port, authority
    finally:
        script("stop")
        # Where the cluster lives when the postgres user cannot reach the test's folder.
        for line in started.splitlines():
            if "so the cluster lives in " in line:
                shutil.rmtree(line.rsplit(" ", 1)[1], ignore_errors=True)


def _url(port: int, ca: Path, sslmode: str = "verify-full") -> str:
    return (
        f"postgresql://orderstate:orderstate@127.0.0.1:{port}/orderstate"
        f"?sslmode={sslmode}&sslrootcert={ca}"
    )


async def test_orderstate_migrates_and_connects_with_verify_full(
    tls_postgres: tuple[int, Authority],
) -> None:
    port, authority = tls_postgres
    url = _url(port, authority.ca)
    migrate = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "migrate",
        env={**os.environ, "ORDERSTATE_DATABASE_URL": url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(migrate.communicate(), timeout=60)
    assert migrate.returncode == 0, output.decode()
    pool = await open_pool(Settings(database_url=SecretStr(url)), wait_s=5)
    try:
        async with pool.acquire() as conn:
            encrypted = await conn.fetchval(
                "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()"
            )
            migrated = await conn.fetchval("SELECT max(version) FROM schema_migrations")
    finally:
        await pool.close()
    assert encrypted is True
    assert migrated >= 1


async def test_plain_tcp_is_refused(tls_postgres: tuple[int, Authority]) -> None:
    port, authority = tls_postgres
    with pytest.raises(asyncpg.InvalidAuthorizationSpecificationError):
        await asyncpg.connect(_url(port, authority.ca, sslmode="disable"))


async def test_another_ca_is_refused_at_once_in_one_line(
    tls_postgres: tuple[int, Authority], tmp_path: Path
) -> None:
    port, _ = tls_postgres
    url = _url(port, make_other_authority(tmp_path))
    began = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "worker",
        "--ops-port",
        "0",
        env={**os.environ, "ORDERSTATE_DATABASE_URL": url, "ORDERSTATE_LOG_FORMAT": "json"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    text = output.decode()
    assert process.returncode == 2, text
    assert "PostgreSQL's TLS certificate was refused (unable to get local issuer" in text, text
    assert len(text.strip().splitlines()) == 1, text
    # Not the 60 s an unreachable server is waited for.
    assert time.monotonic() - began < 20, text
