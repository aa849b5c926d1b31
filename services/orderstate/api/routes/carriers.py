"""/v2/carriers: the carriers a shipment may name (Seven Senders' carrier collection)."""

from fastapi import APIRouter, Request, Response

from orderstate.api.carriers import Carrier
from orderstate.api.deps import ShopId
from orderstate.api.routes._common import PROBLEMS, json_response

__all__ = ["router"]

router = APIRouter(tags=["carriers"], responses=PROBLEMS)


@router.get("/v2/carriers", response_model=list[Carrier])
async def list_carriers(request: Request, _shop_id: ShopId) -> Response:
    """Every carrier with its `code`, `name` and `countries` (ISO 3166-1 alpha-2, upper
    case): a bare JSON array, as the WooCommerce plugin reads it. orderstate's own list, or
    the file `ORDERSTATE_CARRIERS_FILE` names."""
    carriers: list[Carrier] = request.app.state.carriers
    return json_response(carriers, headers={"Cache-Control": "private, max-age=3600"})
