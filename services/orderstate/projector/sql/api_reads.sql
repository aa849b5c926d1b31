-- Named queries of the REST API's reads (orderstate.api.reads, orderstate.api.shipment_reads).
-- The two list requests are not here: their WHERE clauses are composed from fixed fragments
-- in those modules (see their docstrings). Every statement is scoped to the caller's shop.

-- name: order_by_reference
-- One order's view by its shop reference; deleted orders are not found.
SELECT view FROM orders WHERE shop_id = $1 AND order_id = $2 AND NOT deleted;

-- name: shipments_by_id
-- Every shipment of the shop with this id (ids are unique per order, not per shop), with its
-- order's state; shipments of deleted orders are not shown.
SELECT s.order_id, s.shipment_id, s.direction, s.status, s.carrier, s.tracking_code,
       s.linked_at, s.status_at, o.state AS order_state
FROM order_shipments s JOIN orders o USING (shop_id, order_id)
WHERE s.shop_id = $1 AND s.shipment_id = $2 AND NOT o.deleted
ORDER BY s.order_id;

-- name: force_custom_plans
-- For the rest of the transaction: plan every statement for its parameter values. asyncpg
-- prepares every statement, and after five runs PostgreSQL may keep a generic plan that
-- cannot tell a rare filter value from a common one.
SET LOCAL plan_cache_mode = force_custom_plan;
