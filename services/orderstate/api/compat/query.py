"""Query parameters a route does not take are refused, naming them.

A misspelt filter (``filters[shop_order]``) or one orderstate does not have would otherwise be
silently ignored, and a client that takes the first order of the unfiltered list gets the
wrong order. Every route's parameters come from its own declaration, so nothing here lists
them twice.
"""

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from orderstate.api.problems import ApiCode, ProblemError

__all__ = ["refuse_unknown_parameters"]


async def refuse_unknown_parameters(request: Request) -> None:
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not request.query_params:
        return
    allowed = _names(route.dependant)
    unknown = list(dict.fromkeys(k for k in request.query_params if k not in allowed))
    if unknown:
        takes = ", ".join(sorted(allowed)) if allowed else "no query parameters"
        raise ProblemError(
            ApiCode.UNKNOWN_PARAMETER,
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} "
            f"{', '.join(repr(u) for u in unknown)}; {route.path} takes {takes}",
        )


def _names(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _names(sub)
    return names
