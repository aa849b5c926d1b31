"""``create_api``: the FastAPI application, built from an ``ApiContext`` (no globals)."""

from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from orderstate.api import carriers as carrier_list
from orderstate.api.access_log import RequestLog
from orderstate.api.auth_limits import AuthFailureLimits
from orderstate.api.body_limit import BodyLimit
from orderstate.api.compat import openapi as compat_openapi
from orderstate.api.compat.ignored import IgnoredFieldsHeader
from orderstate.api.compat.paths import CompatPaths
from orderstate.api.compat.query import refuse_unknown_parameters
from orderstate.api.context import ApiContext
from orderstate.api.credential_gate import CredentialGate
from orderstate.api.deps import requires_caller, security_schemes
from orderstate.api.direct_read import DirectOrderRead
from orderstate.api.forwarded import TrustedProxies
from orderstate.api.problems import install_problem_handlers
from orderstate.api.routes import (
    alerts,
    carriers,
    history,
    items,
    orders,
    problems,
    shipments,
    states,
    tags,
    token,
)

__all__ = ["API_DESCRIPTION", "create_api"]

API_DESCRIPTION = """
Order states of e-commerce orders, shaped on the Seven Senders Orders API v2
(`/v2/token`, `/v2/orders`, `/v2/order-states`, `/v2/shipments`, `/v2/carriers`, Seven
Senders field names), and the alerts of orderstate's order monitor (`/v2/alerts`). The
Spryker and WooCommerce Seven Senders plugins work unmodified: the legacy spellings
(`/v2/order_states`, `.json` suffixes, `shop_order_*` names, naive datetimes, `de_DE`
locales) are read as the README's "Coming from Seven Senders" lists.

Every write goes through the same state machine as the Kafka events and is also
appended to the inbound Kafka topic. Rejections are RFC 9457
`application/problem+json` with our reason `code`: 409 for a rejected change,
412 (`version_conflict`) for a stale `If-Match`, 404 for an order this shop does
not have, 422 for malformed input. A problem's `type` is `/v2/problems/{code}`:
that page says what causes the code and how to fix it (HTML, or JSON with
`Accept: application/json`). Lists return a bare array with `X-Total-Count` and
an RFC 8288 `Link` header. Lifecycle rules are stricter than Seven Senders
documents; they are numbered in the repository's `docs/lifecycle.md`.
"""


def create_api(context: ApiContext) -> FastAPI:
    """The REST API and nothing else: /healthz, /readyz and /metrics are on the process's ops
    port (orderstate.launch.servers.serve_ops), which is never exposed to clients."""
    app = FastAPI(
        title="orderstate",
        version="1.0.0",
        description=API_DESCRIPTION,
        openapi_url="/v2/openapi.json",
        docs_url="/v2/docs",
        redoc_url=None,
        dependencies=[Depends(refuse_unknown_parameters)],
    )
    app.state.context = context
    app.state.carriers = carrier_list.load(context.settings.carriers_file)
    app.state.auth_limits = AuthFailureLimits(context.settings.api_auth_failures_per_minute)
    install_problem_handlers(app)
    routers = [
        module.router
        for module in (
            token,
            orders,
            items,
            states,
            tags,
            shipments,
            carriers,
            alerts,
            problems,
            history,
        )
    ]
    for router in routers:
        app.include_router(router)
    # Innermost of the API's layers: every one below runs for the reads it answers too.
    app.add_middleware(DirectOrderRead, context=context, route=_order_read_route())
    app.add_middleware(BodyLimit, max_bytes=context.settings.api_max_body_bytes)
    app.add_middleware(IgnoredFieldsHeader)
    # Before routing, on the canonical path: bad credentials cost no routing or dependencies.
    app.add_middleware(
        CredentialGate,
        limits=app.state.auth_limits,
        secret=context.settings.token_secret.get_secret_value(),
        clock=context.clock,
    )
    # The path is what routing and every inner layer see.
    app.add_middleware(CompatPaths)
    # It also times and logs the answers of BodyLimit.
    app.add_middleware(RequestLog)
    # Outermost: every layer sees the client's scheme, host and address.
    app.add_middleware(TrustedProxies, networks=context.settings.api_trusted_networks)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = compat_openapi.document(
                _problems_as_problem_json(
                    _with_security(
                        get_openapi(
                            title=app.title,
                            version=app.version,
                            description=app.description,
                            routes=app.routes,
                        ),
                        [route for router in routers for route in router.routes],
                    )
                )
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
    return app


def _order_read_route() -> APIRoute:
    return next(
        route
        for route in orders.router.routes
        if isinstance(route, APIRoute) and route.endpoint is orders.get_order
    )


def _with_security(document: dict[str, Any], routes: list[BaseRoute]) -> dict[str, Any]:
    """Every operation that authenticates its caller lists both security schemes, where FastAPI
    puts them for a ``Security`` dependency (which the routes do without, api/deps.py).
    ``routes`` are the routers' own: the app holds them wrapped, one wrapper per router."""
    schemes = security_schemes()
    document.setdefault("components", {})["securitySchemes"] = schemes
    for route in routes:
        if not (
            isinstance(route, APIRoute)
            and route.include_in_schema
            and requires_caller(route.dependant)
        ):
            continue
        operations = document["paths"][route.path_format]
        for method in route.methods or ():
            fields = list(operations[method.lower()].items())
            at = next(i for i, (key, _) in enumerate(fields) if key == "operationId") + 1
            operations[method.lower()] = dict(
                [*fields[:at], ("security", [{name: []} for name in schemes]), *fields[at:]]
            )
    return document


def _problems_as_problem_json(document: dict[str, Any]) -> dict[str, Any]:
    """Error responses are application/problem+json with the Problem schema, FastAPI's own
    422 validation model included, because that is what the handlers send."""
    problem = {"schema": {"$ref": "#/components/schemas/Problem"}}
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                if status[0] in "45":
                    response["content"] = {"application/problem+json": problem}
    schemas = document.get("components", {}).get("schemas", {})
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return document
