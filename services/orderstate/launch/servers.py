"""The HTTP servers a process embeds in its event loop: the REST API, and the small ops port
(/healthz, /readyz and /metrics) of every process, the api's included."""

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime

import asyncpg
import uvicorn
from starlette.applications import Starlette

from orderstate.api.app import create_api
from orderstate.api.context import ApiContext
from orderstate.console.install import install_console
from orderstate.domain import PolicyBook
from orderstate.health.readiness import ReadinessCheck
from orderstate.health.routes import health_routes
from orderstate.settings import Settings

__all__ = ["EmbeddedServer", "serve_api", "serve_ops"]


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


async def serve_api(
    settings: Settings,
    pool: asyncpg.Pool,
    policies: PolicyBook,
    stop: asyncio.Event,
    listening: asyncio.Event,
) -> int:
    """Serve the REST API until ``stop`` is set; in-flight requests get
    ORDERSTATE_API_SHUTDOWN_TIMEOUT_S to finish. Its /healthz, /readyz and /metrics are on
    the process's ops port (``serve_ops``), never on the REST port. ``listening`` is set
    while the REST port accepts connections: /readyz waits for it, because the ops port is up
    before the app is built and bound."""
    app = create_api(ApiContext(settings, pool, policies, clock=lambda: datetime.now(UTC)))
    # The web console (/ui) is served by the same process, next to the API it reads through.
    install_console(app)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        log_level="warning",
        # The API's own access log (api/access_log.py) replaces uvicorn's, which would print
        # query strings.
        access_log=False,
        lifespan="off",
        # X-Forwarded-* count only from ORDERSTATE_API_TRUSTED_PROXIES (api/forwarded.py).
        proxy_headers=False,
        timeout_graceful_shutdown=settings.api_shutdown_timeout_s,
    )
    server = EmbeddedServer(config)
    task = asyncio.create_task(server.serve(), name="api")
    started = asyncio.create_task(_listening_once_started(server, task, listening))
    try:
        await stop.wait()
    finally:
        started.cancel()
        listening.clear()
    server.should_exit = True
    await task
    return 0


async def _listening_once_started(
    server: EmbeddedServer, task: "asyncio.Task[None]", listening: asyncio.Event
) -> None:
    # A failed bind leaves it unset: never ready; the part's end ends the process.
    if await server.until_started(task):
        listening.set()
