"""The small HTTP port of the worker and the relay: /healthz, /readyz and /metrics."""

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from orderstate.health_routes import health_routes
from orderstate.readiness import ReadinessCheck

__all__ = ["EmbeddedServer", "serve_ops"]


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a process that handles SIGTERM itself: leave signals alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_ops(host: str, port: int, readiness: ReadinessCheck) -> asyncio.Task[None]:
    """Start serving in the background; cancel the task to stop."""
    config = uvicorn.Config(
        Starlette(routes=health_routes(readiness)),
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name=f"ops-server:{port}")
    while not server.started:
        if task.done():
            await task  # re-raises the bind error, e.g. the port is taken
            raise RuntimeError(f"ops server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    return task
