"""`orderstate api` with one route more: the same-run ceiling of `make bench-api`.

bench/api.py starts ``.venv/bin/python bench/api_ceiling.py api --ops-port 0`` where it used to
start ``.venv/bin/orderstate api --ops-port 0``. This script runs the same console command
(``orderstate.cli.main``, so the same settings, logging, event loop, pool, ``gc.freeze`` and
uvicorn configuration of ``orderstate.launch.api_server.serve_api``) after one change: the
``create_api`` that ``serve_api`` calls is wrapped so that the app it returns has one more
ASGI layer, outermost (``Ceiling``). That layer answers two paths itself and passes every
other request on to the API untouched:

- ``GET /bench/ceiling/{order_id}``: the primary-key read of one order of the bench shop
  (``SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2``) through the app's own
  asyncpg pool (``ApiContext.pool``), answered with the stored JSON text as it is: no
  routing, no middleware, no authentication, no FastAPI, no parsing, no model. What one
  request costs on this uvicorn and this pool with nothing of the API in between: the
  ceiling GET /v2/orders/{order_id} is compared with in the same run.
- ``GET /bench/floor/{order_id}``: the same read and answer as a FastAPI route of the app,
  so behind all of the API's middleware, its routing and its app-wide dependency, but with
  no authentication, model or parsing of its own: what the framework costs, between the
  ceiling and GET /v2/orders/{order_id}.
- ``GET /bench/served``: this process's pid and how many requests it answered on the
  ceiling path and passed on to the API, so that the benchmark can show that both were
  answered by one process.

For every other request the layer costs one path comparison and a counter. Nothing in
services/ is changed; the shop comes from ``BENCH_CEILING_SHOP``.
"""

import json
import os
import sys

import asyncpg
from fastapi import FastAPI, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from orderstate import cli
from orderstate.api.app import create_api
from orderstate.api.context import ApiContext
from orderstate.launch import api_server

CEILING = "/bench/ceiling/"
FLOOR = "/bench/floor/"
SERVED = "/bench/served"
SHOP_ENV = "BENCH_CEILING_SHOP"
READ = "SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2"


class Ceiling:
    """Pure ASGI, in front of the API's own middleware."""

    def __init__(self, app: ASGIApp, *, pool: asyncpg.Pool, shop_id: str) -> None:
        self.app = app
        self.pool = pool
        self.shop_id = shop_id
        self.ceiling = 0
        self.passed_on = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path: str = scope["path"]
            if path.startswith(CEILING):
                self.ceiling += 1
                async with self.pool.acquire() as conn:
                    view: str | None = await conn.fetchval(READ, self.shop_id, path[len(CEILING) :])
                if view is None:
                    await _answer(send, 404, b"")
                else:
                    await _answer(send, 200, view.encode())
                return
            if path == SERVED:
                served = {"pid": os.getpid(), "ceiling": self.ceiling, "api": self.passed_on}
                await _answer(send, 200, json.dumps(served).encode())
                return
            self.passed_on += 1
        await self.app(scope, receive, send)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _create_api_with_ceiling(context: ApiContext) -> FastAPI:
    app = create_api(context)
    shop_id = os.environ[SHOP_ENV]

    @app.get(FLOOR + "{order_id}", include_in_schema=False)
    async def floor(order_id: str) -> Response:
        async with context.pool.acquire() as conn:
            view: str | None = await conn.fetchval(READ, shop_id, order_id)
        if view is None:
            return Response(status_code=404)
        return Response(view.encode(), media_type="application/json")

    # add_middleware puts a layer outside every layer added before it (create_api's own);
    # install_console, which serve_api calls next, adds routes only.
    app.add_middleware(Ceiling, pool=context.pool, shop_id=shop_id)
    return app


def main() -> None:
    if not os.environ.get(SHOP_ENV):
        raise SystemExit(f"{SHOP_ENV} must name the shop of the ceiling's read")
    # serve_api looks create_api up in its module's namespace when it builds the app.
    namespace = vars(api_server)
    if namespace.get("create_api") is not create_api:
        raise SystemExit("orderstate.launch.api_server no longer builds the app with create_api")
    namespace["create_api"] = _create_api_with_ceiling
    sys.argv[0] = "orderstate"
    cli.main()


if __name__ == "__main__":
    main()
