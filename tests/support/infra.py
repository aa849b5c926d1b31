"""Where integration tests get a real Kafka broker and a real PostgreSQL server.

In this order: the ``ORDERSTATE_TEST_KAFKA`` / ``ORDERSTATE_TEST_DATABASE_URL``
environment variables; testcontainers when a Docker engine answers; otherwise
the native services of ``deploy/local`` (started for the session if they are
not running, and stopped again afterwards). When none of them can be had the
session fails with instructions: integration tests never skip.
"""

import contextlib
import os
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / "deploy" / "local"

HOW_TO_GET_THEM = (
    "Integration tests need a real Kafka broker and PostgreSQL server. Either\n"
    "  - run `make services-up` (native Kafka + PostgreSQL on 127.0.0.1, no Docker), or\n"
    "  - set ORDERSTATE_TEST_KAFKA=host:port and ORDERSTATE_TEST_DATABASE_URL="
    "postgresql://user:pass@host:port/db, or\n"
    "  - start a Docker engine (testcontainers is used when one answers)."
)


class InfrastructureUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    # A URL whose role may create databases; tests derive per-test databases from it.
    database_url: str
    origin: str


def _port_open(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
        return True
    return False


def _docker_answers() -> bool:
    """GET /_ping on the engine socket; docker-py is avoided because it leaks the socket."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    try:
        if host.startswith("unix://"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            address: str | tuple[str, int] = host.removeprefix("unix://")
        elif host.startswith("tcp://"):
            hostname, _, port = host.removeprefix("tcp://").rpartition(":")
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            address = (hostname, int(port))
        else:
            return False
        with sock:
            sock.settimeout(3)
            sock.connect(address)
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            return sock.recv(64).split(b" ")[1:2] == [b"200"]
    except (OSError, ValueError):
        return False


def _native_env() -> dict[str, str]:
    out = subprocess.run(
        [str(LOCAL / "services.sh"), "env"], check=True, capture_output=True, text=True
    ).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def _run_local(script: str, *args: str) -> None:
    result = subprocess.run(
        [str(LOCAL / script), *args], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise InfrastructureUnavailable(
            f"deploy/local/{script} {' '.join(args)} failed (exit {result.returncode}):\n"
            f"{result.stdout}{result.stderr}\n{HOW_TO_GET_THEM}"
        )


@contextlib.contextmanager
def _native(kafka: str | None, database_url: str | None) -> Iterator[Endpoints]:
    env = _native_env()
    native_kafka = env["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"]
    native_db = env["ORDERSTATE_DATABASE_URL"]
    started: list[str] = []
    try:
        if database_url is None and not _port_open(native_db.rsplit("@", 1)[1].split("/")[0]):
            _run_local("postgres.sh", "start")
            started.append("postgres.sh")
        if kafka is None and not _port_open(native_kafka):
            _run_local("kafka-jars.sh")
            _run_local("kafka.sh", "start")
            started.append("kafka.sh")
        yield Endpoints(kafka or native_kafka, database_url or native_db, "native deploy/local")
    finally:
        for script in reversed(started):
            _run_local(script, "stop")


@contextlib.contextmanager
def _containers(kafka: str | None, database_url: str | None) -> Iterator[Endpoints]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with contextlib.ExitStack() as stack:
        if kafka is None:
            broker = stack.enter_context(KafkaContainer("apache/kafka:4.4.0").with_kraft())
            kafka = broker.get_bootstrap_server()
        if database_url is None:
            pg = stack.enter_context(PostgresContainer("postgres:15", driver=None))
            database_url = pg.get_connection_url()
        yield Endpoints(kafka, database_url, "testcontainers")


@contextlib.contextmanager
def provide() -> Iterator[Endpoints]:
    kafka = os.environ.get("ORDERSTATE_TEST_KAFKA") or None
    database_url = os.environ.get("ORDERSTATE_TEST_DATABASE_URL") or None
    if kafka and database_url:
        yield Endpoints(kafka, database_url, "environment")
    elif _docker_answers():
        with _containers(kafka, database_url) as endpoints:
            yield endpoints
    else:
        with _native(kafka, database_url) as endpoints:
            yield endpoints
