-- Named queries of the REST API's reads (orderstate.api.reads, orderstate.api.shipment_reads).
-- The two list requests are not here: their WHERE clauses are composed from fixed fragments
-- in those modules (see their docstrings). Every statement is scoped to the caller's shop.

-- One order's view by its shop reference (GET /v2/orders/{order_id}) is one statement, so that
-- the read is one round trip: one of the three ``order_asked_*`` heads below, which names the
-- order as the relation ``asked(shop_id, order_id)``, followed by ``order_read``. api/reads.py
-- joins them (ONE_ORDER_STATEMENTS); fragments are never run alone.

-- fragment: order_asked_by_shop
-- The order $2 of shop $1: for a caller whose shop is known already.
WITH asked AS (SELECT $1::text AS shop_id, $2::text AS order_id)

-- fragment: order_asked_by_key
-- The order $2 of the shop of the active API key whose id is $1 and whose hash ($3) is that of
-- the whole key the request carried: the key check and the read in one round trip
-- (api/direct_read.py). No row when the key is unknown, revoked or not the one that id names.
-- The hash is compared here by plain equality, where keys.find_active_key uses
-- hmac.compare_digest: what such a comparison's timing could tell is how far an HMAC digest
-- made with the server's pepper matches the stored one, which no caller can steer towards a
-- key without the pepper.
WITH asked AS (
    SELECT shop_id, $2::text AS order_id FROM api_keys
    WHERE key_id = $1 AND key_hash = $3 AND revoked_at IS NULL
)

-- fragment: order_asked_by_token
-- The order $2 of shop $3, if the key $1 that a token we signed names is of that shop and still
-- active: a key revoked after its token was issued stops reading at once.
WITH asked AS (
    SELECT shop_id, $2::text AS order_id FROM api_keys
    WHERE key_id = $1 AND shop_id = $3 AND revoked_at IS NULL
)

-- fragment: order_read
-- The asked order's view, with its states_history as arrays, oldest entry first (the stored
-- view keeps only a summary of it), and its open alerts as rows, oldest first (NULL when
-- none); deleted orders are not found.
SELECT o.view, h.states, h.occurred, h.offsets, h.recorded, h.causes, h.lates, h.locations,
       a.alerts
FROM asked q
JOIN orders o ON o.shop_id = q.shop_id AND o.order_id = q.order_id AND NOT o.deleted
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
) a ON true;

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
