"""Response helpers shared by the resource modules."""

from typing import Any

from fastapi import Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from orderstate.api.deps import etag
from orderstate.api.problems import Problem
from orderstate.api.representation import order_out
from orderstate.domain import OrderView

__all__ = ["PROBLEMS", "json_response", "order_response"]

# Documented on every route: the problem bodies a client must expect.
PROBLEMS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "Missing, invalid or expired credentials."},
    404: {"model": Problem, "description": "No such order for this shop."},
    409: {"model": Problem, "description": "The change was rejected; `code` says why."},
    412: {"model": Problem, "description": "If-Match named a stale version (version_conflict)."},
    413: {"model": Problem, "description": "The body is over the size limit."},
    422: {"model": Problem, "description": "Malformed input, or a reused Idempotency-Key."},
}


def json_response(
    model: BaseModel | list[Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    content: Any
    if isinstance(model, BaseModel):
        content = model.model_dump(mode="json")
    else:
        content = [m.model_dump(mode="json") if isinstance(m, BaseModel) else m for m in model]
    return JSONResponse(content, status_code=status, headers=headers)


def order_response(view: OrderView, status: int = 200, *, location: bool = False) -> Response:
    headers = {"ETag": etag(view.version)}
    if location:
        headers["Location"] = f"/v2/orders/{view.order_id}"
    return json_response(order_out(view), status, headers)
