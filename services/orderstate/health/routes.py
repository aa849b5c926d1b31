"""/healthz, /readyz and /metrics as Starlette routes: the one implementation that both the
REST API (on its own port) and the worker's and relay's ops port serve."""

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from orderstate.health.readiness import ReadinessCheck

__all__ = ["OPS_PATHS", "health_routes"]

# Paths that are not the REST API: never exposed by the Ingress, not counted as REST requests.
OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


async def _healthz(_: Request) -> JSONResponse:
    # Alive means the event loop answers: a dependency outage must not restart the pod.
    return JSONResponse({"status": "ok"})


async def _metrics(_: Request) -> Response:
    # A route at /metrics itself: a mounted app would redirect to /metrics/.
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def health_routes(readiness: ReadinessCheck) -> list[Route]:
    async def readyz(_: Request) -> JSONResponse:
        failing = await readiness()
        if failing:
            return JSONResponse({"status": "not ready", "failing": failing}, status_code=503)
        return JSONResponse({"status": "ready"})

    return [
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/metrics", _metrics, methods=["GET"]),
    ]
