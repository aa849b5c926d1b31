"""orderstate commands as real processes, for crash and shutdown tests."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from orderstate.settings import Settings


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATE_")}
    env.update(
        {
            "ORDERSTATE_DATABASE_URL": settings.database_url.get_secret_value(),
            "ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
            "ORDERSTATE_TOPIC_ORDERS": settings.topic_orders,
            "ORDERSTATE_TOPIC_SHIPMENTS": settings.topic_shipments,
            "ORDERSTATE_TOPIC_ORDER_EVENTS": settings.topic_order_events,
            "ORDERSTATE_TOPIC_REJECTED": settings.topic_rejected,
            "ORDERSTATE_TOPIC_ALERTS": settings.topic_alerts,
            "ORDERSTATE_MONITOR_GROUP": settings.monitor_group,
            "ORDERSTATE_CONSUMER_GROUP": settings.consumer_group,
            "ORDERSTATE_BATCH_MAX_WAIT_MS": str(settings.batch_max_wait_ms),
            "ORDERSTATE_LOG_FORMAT": "json",
            **extra,
        }
    )
    return env


def start(command: str, settings: Settings, log: Path, **extra: str) -> subprocess.Popen[bytes]:
    # The child keeps its own copy of the descriptor; ours closes at once.
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "orderstate", command, "--ops-port", "0"],
            env=env_for(settings, **extra),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def terminate(process: subprocess.Popen[bytes], *, within_s: float) -> tuple[int, float]:
    """SIGTERM; return the exit code and how long the process took to exit."""
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        code = process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"process did not exit within {within_s} s of SIGTERM") from None
    return code, time.monotonic() - started


async def orderstate(
    settings: Settings, *args: str, timeout_s: float = 60, **extra: str
) -> tuple[int, str, str]:
    """Run an orderstate command to its end: exit code, stdout, stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        *args,
        env=env_for(settings, **extra),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def free_port() -> int:
    """A port nothing listens on now (another process may take it before we do)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class ApiProcess:
    port: int
    ops_port: int
    log: Path
    process: asyncio.subprocess.Process

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ops_url(self) -> str:
        return f"http://127.0.0.1:{self.ops_port}"


@asynccontextmanager
async def api_process(settings: Settings, log: Path, **extra: str) -> AsyncIterator[ApiProcess]:
    """``orderstate api`` on free REST and ops ports, its output in ``log``, until the block
    ends (then SIGTERM). It is not waited for: each test knows what "started" means to it."""
    port, ops_port = free_port(), free_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "orderstate",
            "api",
            "--ops-port",
            str(ops_port),
            env=env_for(settings, ORDERSTATE_API_PORT=str(port), **extra),
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    try:
        yield ApiProcess(port, ops_port, log, process)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.wait(), timeout=30)
