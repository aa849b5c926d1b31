"""/v2/orders/{order_id}/shipments: shipment links, read-only (shipments arrive by Kafka)."""

from fastapi import APIRouter, Response

from orderstate.api import reads
from orderstate.api.deps import Context, OrderIdPath, ShopId, etag
from orderstate.api.representation import ShipmentOut, order_out
from orderstate.api.routes._responses import PROBLEMS, json_response
from orderstate.api.routes.orders import not_found

__all__ = ["router"]

router = APIRouter(tags=["shipments"], responses=PROBLEMS)


@router.get("/v2/orders/{order_id}/shipments", response_model=list[ShipmentOut])
async def list_shipments(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """Outbound and return shipments linked to the order, with their delivery status."""
    async with ctx.pool.acquire() as conn:
        view = await reads.get_order(conn, shop_id, order_id)
    if view is None:
        raise not_found(order_id)
    return json_response(order_out(view).shipments, headers={"ETag": etag(view.version)})
