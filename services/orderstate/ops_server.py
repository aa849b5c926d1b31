"""The small HTTP port of the worker and the relay: /healthz, /readyz and /metrics."""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import asyncpg
import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderstate.domain import PolicyBook
from orderstate.settings import Settings

__all__ = ["ReadinessCheck", "metrics_endpoint", "serve_api", "serve_ops"]

# Returns the names of the dependencies that are not ready; empty means ready.
ReadinessCheck = Callable[[], Awaitable[list[str]]]


class _EmbeddedServer(uvicorn.Server):
    """A uvicorn server inside a process that handles SIGTERM itself: leave signals alone."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def metrics_endpoint(_: Request) -> Response:
    """Prometheus text format at /metrics itself (a mounted app would redirect to /metrics/)."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _app(readiness: ReadinessCheck) -> Starlette:
    async def healthz(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> JSONResponse:
        failing = await readiness()
        if failing:
            return JSONResponse({"status": "not ready", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics_endpoint),
        ]
    )


async def serve_ops(host: str, port: int, readiness: ReadinessCheck) -> asyncio.Task[None]:
    """Start serving in the background; cancel the task to stop."""
    config = uvicorn.Config(
        _app(readiness), host=host, port=port, log_level="warning", access_log=False, lifespan="off"
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name=f"ops-server:{port}")
    while not server.started:
        if task.done():
            await task  # re-raises the bind error, e.g. the port is taken
            raise RuntimeError(f"ops server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    return task


async def serve_api(
    settings: Settings, pool: asyncpg.Pool, policies: PolicyBook, stop: asyncio.Event
) -> int:
    """Serve the REST API until ``stop`` is set; in-flight requests finish first."""
    from orderstate.api.app import create_api
    from orderstate.api.context import ApiContext

    app = create_api(ApiContext(settings, pool, policies, clock=lambda: datetime.now(UTC)))
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        access_log=False,
        lifespan="off",
        proxy_headers=True,
    )
    server = _EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="api")
    await stop.wait()
    server.should_exit = True
    await task
    return 0
