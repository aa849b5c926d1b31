"""/v2/orders/{order_id}/shipments: shipment links, read-only (shipments arrive by Kafka)."""

from fastapi import APIRouter, Response

from orderstate.api.deps import Context, OrderIdPath, ShopId, etag
from orderstate.api.representation import ShipmentOut, order_out
from orderstate.api.routes._common import PROBLEMS, json_response, order_or_404

__all__ = ["router"]

router = APIRouter(tags=["shipments"], responses=PROBLEMS)


@router.get("/v2/orders/{order_id}/shipments", response_model=list[ShipmentOut])
async def list_shipments(order_id: OrderIdPath, ctx: Context, shop_id: ShopId) -> Response:
    """Outbound and return shipments linked to the order, with their delivery status."""
    view = await order_or_404(ctx, shop_id, order_id)
    return json_response(order_out(view).shipments, headers={"ETag": etag(view.version)})
