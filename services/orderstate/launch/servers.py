"""The small ops port (/healthz, /readyz and /metrics) every process embeds in its event loop,
the api's included, and the uvicorn server class both it and the REST API (``api_server``)
run on."""

import asyncio
import contextlib
from collections.abc import Iterator

import uvicorn
from starlette.applications import Starlette

from orderstate.health.readiness import ReadinessCheck
from orderstate.health.routes import health_routes

__all__ = ["EmbeddedServer", "serve_ops"]


class EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a process that handles SIGTERM itself: leave signals alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def until_started(self, task: "asyncio.Task[None]") -> bool:
        """True once the server listens; False when ``task`` (its ``serve()``) ended first,
        e.g. on a port that is taken."""
        while not self.started:
            if task.done():
                return False
            await asyncio.sleep(0.01)
        return True


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
    if not await server.until_started(task):
        await task  # re-raises the bind error, e.g. the port is taken
        raise RuntimeError(f"ops server on {host}:{port} stopped during start-up")
    return task
