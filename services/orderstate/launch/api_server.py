"""The REST API's server, embedded in the process's event loop. Only a process that runs the
api imports this module, and with it FastAPI, the routes and the console: a worker or relay
starts without them (bench/results-startup.md has what that saves)."""

import asyncio
from datetime import UTC, datetime

import asyncpg
import uvicorn

from orderstate.api.app import create_api
from orderstate.api.context import ApiContext
from orderstate.console.install import install_console
from orderstate.domain import PolicyBook
from orderstate.launch.servers import EmbeddedServer
from orderstate.settings import Settings

__all__ = ["serve_api"]


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
