-- Named queries of the order event log's reads (orderstate.api.history, orderstate.api.changes):
-- an order as of a moment, an order's events, and a shop's changes feed. Every statement is
-- scoped to the caller's shop.

-- name: order_event_as_of
-- The order's last event recorded at or before the moment: its snapshot is the order then.
SELECT sequence, event, history_len
FROM order_events
WHERE shop_id = $1 AND order_id = $2 AND recorded_at <= $3
ORDER BY sequence DESC
LIMIT 1;

-- name: order_log_start
-- Where the order's log starts (NULL: no event kept), and whether the shop has the order.
SELECT (SELECT min(sequence) FROM order_events WHERE shop_id = $1 AND order_id = $2)
           AS first_sequence,
       EXISTS (SELECT 1 FROM orders WHERE shop_id = $1 AND order_id = $2) AS known;

-- name: history_as_of
-- The first $3 entries of the order's states_history: what it held after a logged event.
SELECT state, occurred_at, occurred_offset_s, recorded_at, cause_event_id, late, location
FROM order_state_history
WHERE shop_id = $1 AND order_id = $2 AND seq <= $3
ORDER BY seq;

-- name: order_events_page
-- A page of the order's events in sequence.
SELECT order_id, sequence, type, event, recorded_at
FROM order_events
WHERE shop_id = $1 AND order_id = $2
ORDER BY sequence
LIMIT $3 OFFSET $4;

-- name: order_events_count
SELECT count(*) FROM order_events WHERE shop_id = $1 AND order_id = $2;

-- name: changes_page
-- The shop's next events after the cursor ($2 xid, $3 position) in feed order, only from
-- transactions older than the oldest one still running: those rows are final, so no row can
-- appear before the cursor later (orderstate.api.changes).
SELECT order_id, sequence, type, event, recorded_at, xid::text AS xid, position
FROM order_events
WHERE shop_id = $1
  AND (xid, position) > ($2::text::xid8, $3::bigint)
  AND xid < (SELECT pg_snapshot_xmin(pg_current_snapshot()))
ORDER BY xid, position
LIMIT $4;

-- name: histories_up_to
-- The first $3 entries of each order's states_history: as many as its view counts (a view
-- read earlier, a view a write returned, or an order as it was after a logged event).
SELECT h.shop_id, h.order_id, h.state, h.occurred_at, h.occurred_offset_s, h.recorded_at,
       h.cause_event_id, h.late, h.location
FROM order_state_history h
JOIN unnest($1::text[], $2::text[], $3::int[]) AS k(shop_id, order_id, length)
  ON h.shop_id = k.shop_id AND h.order_id = k.order_id AND h.seq <= k.length
ORDER BY h.shop_id, h.order_id, h.seq;
