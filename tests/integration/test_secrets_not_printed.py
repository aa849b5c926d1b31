"""No value of a secret setting, nor any part of one, reaches the terminal or a log line,
whatever is wrong with the configuration: every command, and the start-up of the worker,
the relay and the api as processes."""

import asyncio
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
import structlog
from pydantic import SecretStr
from typer.testing import CliRunner

from orderstate.cli import app
from orderstate.settings import Settings
from tests.support.processes import env_for

# Random-looking, so that no five characters of them occur in any message by chance.
TOKEN_SECRET = "Tk9vQzX2mWp4rLs8Yb3nHd6fJg1cVa5E"
PEPPER = "Pp7mQw2ZxN8rTb4sKv6yLd1hGf3jCa9U"
SASL_PASSWORD = "Ks5wRt8QzM2nXp4vBd7yLh1gFj3cVa6E"
KEY_PASSWORD = "Kp3zWq9RxT6mNb2sYv8dLh4gFj1cUa7E"
DB_PASSWORD = "Db4xQw7RzT1mNp5sKv9yLh3gFj6cVa2E"
SECRETS = (TOKEN_SECRET, PEPPER, SASL_PASSWORD, KEY_PASSWORD, DB_PASSWORD)
_CLOSED = "127.0.0.1:9"  # nothing listens on the discard port: no test touches a real broker

# Every secret set, each kind of failure on top. The value of a too-short key is a secret too.
BASE = {
    "ORDERSTATE_TOKEN_SECRET": TOKEN_SECRET,
    "ORDERSTATE_API_KEY_PEPPER": PEPPER,
    "ORDERSTATE_KAFKA_SASL_PASSWORD": SASL_PASSWORD,
    "ORDERSTATE_KAFKA_SSL_KEY_PASSWORD": KEY_PASSWORD,
    "ORDERSTATE_DATABASE_URL": f"postgresql://orderstate:{DB_PASSWORD}@127.0.0.1:9/orderstate",
    "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS": _CLOSED,
}
CONFIGURATION_FAILURES: dict[str, dict[str, str]] = {
    "short token secret": {"ORDERSTATE_TOKEN_SECRET": TOKEN_SECRET[:20]},
    "short pepper": {"ORDERSTATE_API_KEY_PEPPER": PEPPER[:20]},
    "SASL without a mechanism": {
        "ORDERSTATE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ORDERSTATE_KAFKA_SASL_USERNAME": "orderstate",
    },
    "TLS files without TLS": {"ORDERSTATE_KAFKA_SSL_CAFILE": "/etc/ssl/certs/ca.pem"},
    "development defaults in production": {
        "ORDERSTATE_ENVIRONMENT": "production",
        "ORDERSTATE_API_KEY_PEPPER": "",
    },
    "a number that is none": {"ORDERSTATE_DATABASE_POOL_SIZE": f"x{SASL_PASSWORD}"},
    "an unknown protocol": {"ORDERSTATE_KAFKA_SECURITY_PROTOCOL": "TLS"},
    "an unencoded '/' in the database password": {
        "ORDERSTATE_DATABASE_URL": (
            f"postgresql://orderstate:{DB_PASSWORD[:12]}/{DB_PASSWORD[12:]}@db:5432/orderstate"
        )
    },
    "a URL that is no PostgreSQL URL": {"ORDERSTATE_DATABASE_URL": DB_PASSWORD},
    "an unknown time zone": {"ORDERSTATE_API_TIME_ZONE": "Mars/Olympus"},
    "a proxy that is no address": {"ORDERSTATE_API_TRUSTED_PROXIES": PEPPER},
}
COMMANDS = [
    ["migrate"],
    ["topics", "create"],
    ["worker", "--ops-port", "0"],
    ["relay", "--ops-port", "0"],
    ["api", "--ops-port", "0"],
    ["run", "--ops-port", "0"],
    ["simulate", "--orders", "1"],
    ["apikey", "create", "--shop", "shop-a"],
    ["apikey", "set", "--shop", "shop-a", "0123456789ab"],
    ["apikey", "list", "--shop", "shop-a"],
    ["apikey", "revoke", "--shop", "shop-a", "0123456789ab"],
    ["outbox", "list"],
    ["outbox", "retry", "--all"],
    ["outbox", "skip", "--all"],
    ["rebuild", "--database-url", "postgresql://orderstate@127.0.0.1:9/rebuilt"],
    ["verify", "--live", "postgresql://orderstate@127.0.0.1:9/a", "--rebuilt", "postgresql://b"],
    ["backfill", str(Path(__file__).parents[2] / "docs/examples/backfill.ndjson"), "--shop", "s"],
]


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run here with valid settings configures structlog and the root logger for
    the CliRunner's stderr, which is closed once the command ends: a later test that runs a
    worker in this process would log into that closed file, and its worker would die."""
    config = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    structlog.configure(**config)
    root.handlers[:] = handlers
    root.setLevel(level)


def assert_no_secret(output: str, where: str) -> None:
    for secret in SECRETS:
        for start in range(len(secret) - 4):
            part = secret[start : start + 5]
            assert part not in output, f"{where}: {part!r} of a secret printed:\n{output}"


def _environment(overrides: Mapping[str, str]) -> dict[str, str | None]:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("ORDERSTATE_")}
    env.update({**BASE, **overrides})
    return {k: (v or None) for k, v in env.items()}


@pytest.mark.parametrize("kind", CONFIGURATION_FAILURES)
def test_every_command_names_the_setting_and_never_a_value(kind: str) -> None:
    runner = CliRunner()
    for command in COMMANDS:
        result = runner.invoke(app, command, env=_environment(CONFIGURATION_FAILURES[kind]))
        where = f"{kind}: orderstate {' '.join(command)}"
        assert result.exit_code == 2, f"{where}\n{result.output}"
        assert result.output.startswith("orderstate: invalid configuration:\n  ORDERSTATE_")
        assert "input_value" not in result.output and "pydantic.dev" not in result.output
        assert_no_secret(result.output, where)


def test_a_wrong_database_password_is_named_not_shown(database_url: str) -> None:
    wrong = database_url.replace("orderstate:orderstate@", f"orderstate:{DB_PASSWORD}@")
    runner = CliRunner()
    for command in (c for c in COMMANDS if c[0] in ("migrate", "apikey", "outbox")):
        result = runner.invoke(app, command, env=_environment({"ORDERSTATE_DATABASE_URL": wrong}))
        assert result.exit_code == 1, result.output
        assert "password authentication failed" in result.output, result.output
        assert_no_secret(result.output, " ".join(command))


async def _start(command: str, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        command,
        "--ops-port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")


async def test_processes_fail_to_start_in_one_line_without_a_secret(
    database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=SecretStr(database_url), kafka_bootstrap_servers=_CLOSED)
    missing = tmp_path / "missing"
    failures = {
        **{
            k: CONFIGURATION_FAILURES[k] for k in ("short token secret", "SASL without a mechanism")
        },
        "an unencoded '/' in the database password": CONFIGURATION_FAILURES[
            "an unencoded '/' in the database password"
        ],
        "a wrong database password": {
            "ORDERSTATE_DATABASE_URL": database_url.replace(
                "orderstate:orderstate@", f"orderstate:{DB_PASSWORD}@"
            )
        },
        # Read when the Kafka clients are built: the database is fine, the files are not.
        "unreadable Kafka TLS files": {
            "ORDERSTATE_DATABASE_URL": database_url,
            "ORDERSTATE_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ORDERSTATE_KAFKA_SSL_CERTFILE": str(missing / "client.pem"),
            "ORDERSTATE_KAFKA_SSL_KEYFILE": str(missing / "client.key"),
        },
    }
    runs = []
    for kind, overrides in failures.items():
        env = {**env_for(settings), **BASE, **overrides}
        for command in ("worker", "relay", "api"):
            if kind == "unreadable Kafka TLS files" and command == "api":
                continue  # the api has no Kafka client
            runs.append((kind, command, env))
    limit = asyncio.Semaphore(4)

    async def one(command: str, env: dict[str, str]) -> tuple[int, str]:
        async with limit:
            return await _start(command, env)

    results = await asyncio.gather(*(one(command, env) for _, command, env in runs))
    for (kind, command, _), (code, output) in zip(runs, results, strict=True):
        where = f"{kind}: orderstate {command}"
        assert code == 2, f"{where}\n{output}"
        assert "Traceback" not in output, f"{where}\n{output}"
        assert_no_secret(output, where)
