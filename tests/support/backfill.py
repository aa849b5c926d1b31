"""Lines of the files `orderstate backfill` reads."""

from typing import Any


def ours(order_id: str) -> dict[str, Any]:
    """An order as GET /v2/orders returns it: shipped, one shipment, boarding complete."""
    return {
        "id": order_id,
        "iri": f"/v2/orders/{order_id}",
        "order_id": order_id,
        "order_url": "https://shop.example.com",
        "order_date": "2025-10-01T10:00:00Z",
        "language": "de",
        "boarding_complete": True,
        "order_tags": {"channel": "web"},
        "state": "shipped",
        "items": [
            {"item_id": "1", "sku": "TS-M", "quantity": 2, "unit_price": "19.99", "currency": "EUR"}
        ],
        "shipments": [
            {
                "shipment_id": f"{order_id}-S1",
                "direction": "outbound",
                "return_parcel": False,
                "status": "in_transit",
                "carrier": "dhl",
                "tracking_code": None,
                "linked_at": "2025-10-02T09:00:00Z",
                "status_at": "2025-10-02T09:30:00Z",
            }
        ],
        "states_history": [
            {"state": "new", "datetime": "2025-10-01T10:00:00Z", "late": False},
            {"state": "paid", "datetime": "2025-10-01T11:00:00Z", "late": False},
            {"state": "shipped", "datetime": "2025-10-02T09:00:00Z", "late": False},
        ],
        "version": 3,
        "created_at": "2025-10-01T10:00:01Z",
        "updated_at": "2025-10-02T09:00:01Z",
    }
