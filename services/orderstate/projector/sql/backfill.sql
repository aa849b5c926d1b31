-- Named queries of `orderstate backfill` (orderstate.backfill): what the shop already has
-- before anything is published, and whether the worker has applied what was. Reads only:
-- the backfill writes to the inbound topic, never to these tables.

-- name: backfill_present
-- The orders of the file that the shop has (or had: deleted ones keep their row), and whether
-- the import with this event id is what made each (a history entry it caused).
SELECT o.order_id, o.version, o.state, o.deleted,
       EXISTS (SELECT 1 FROM order_state_history h
               WHERE h.shop_id = o.shop_id AND h.order_id = o.order_id
                 AND h.cause_event_id = i.event_id) AS imported
FROM unnest($2::text[], $3::text[]) AS i(order_id, event_id)
JOIN orders o ON o.shop_id = $1 AND o.order_id = i.order_id;

-- name: backfill_processed
-- The imports the worker has decided, with their outcome (processed_events is written in the
-- transaction that applied them, so a decided import is visible).
SELECT event_id, outcome
FROM processed_events
WHERE source = $1 AND event_id = ANY($2::text[]);

-- name: backfill_rejections
-- Why the worker rejected imports (an order that appeared between the check and the import).
SELECT event_id, reason, message
FROM rejected_events
WHERE shop_id = $1 AND source = $2 AND event_id = ANY($3::text[]);
