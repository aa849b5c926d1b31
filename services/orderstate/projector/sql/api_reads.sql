-- Named queries of the REST API's reads (orderstate.api.reads, orderstate.api.shipment_reads).
-- The two list requests are not here: their WHERE clauses are composed from fixed fragments
-- in those modules (see their docstrings). Every statement is scoped to the caller's shop.

-- name: order_by_reference
-- One order's view by its shop reference, with its states_history as arrays, oldest entry
-- first (the stored view keeps only a summary of it), and its open alerts as rows, oldest
-- first (NULL when none); deleted orders are not found. One statement, so a GET of an order
-- is one round trip.
SELECT o.view, h.states, h.occurred, h.offsets, h.recorded, h.causes, h.lates, h.locations,
       a.alerts
FROM orders o
LEFT JOIN LATERAL (
    SELECT array_agg(state ORDER BY seq) AS states,
           array_agg(occurred_at ORDER BY seq) AS occurred,
           array_agg(occurred_offset_s ORDER BY seq) AS offsets,
           array_agg(recorded_at ORDER BY seq) AS recorded,
           array_agg(cause_event_id ORDER BY seq) AS causes,
           array_agg(late ORDER BY seq) AS lates,
           array_agg(location ORDER BY seq) AS locations
    FROM order_state_history
    WHERE shop_id = o.shop_id AND order_id = o.order_id
) h ON true
LEFT JOIN LATERAL (
    -- The columns of alert_reads.AlertRow, in its order.
    SELECT array_agg(ROW(alert_id, order_id, rule, state, order_version, since, deadline,
                         raised_at, cleared_at, cleared_because)
                     ORDER BY raised_at, alert_id) AS alerts
    FROM order_alerts
    WHERE shop_id = o.shop_id AND order_id = o.order_id AND cleared_at IS NULL
) a ON true
WHERE o.shop_id = $1 AND o.order_id = $2 AND NOT o.deleted;

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
-- cannot tell a rare filter value from a common one. And no parallel workers: a REST list is
-- one of many concurrent requests, and the planner's row estimate of a list is read from a
-- plan of one scan (reads.ListEstimate).
SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL max_parallel_workers_per_gather = 0;
