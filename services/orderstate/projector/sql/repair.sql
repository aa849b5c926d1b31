-- Named queries of the repair commands (orderstate.repair): `orderstate redrive` and
-- `orderstate policy check`. Both only read; redrive appends to the inbound topics, never
-- to these tables.

-- name: redrive_candidates
-- Kept rejections of the shops, reasons and recorded times asked for (an empty array: any),
-- each with whether it was a parked shipment event that expired.
SELECT r.id, r.shop_id, r.order_id, r.source, r.event_id, r.reason, r.original::text AS original,
       r.rejected_at, coalesce(p.outcome = 'parked_then_expired', false) AS expired
FROM rejected_events r
LEFT JOIN processed_events p ON p.source = r.source AND p.event_id = r.event_id
WHERE (cardinality($1::text[]) = 0 OR r.shop_id = ANY($1::text[]))
  AND (cardinality($2::text[]) = 0 OR r.reason = ANY($2::text[]))
  AND ($3::timestamptz IS NULL OR r.rejected_at >= $3)
  AND ($4::timestamptz IS NULL OR r.rejected_at < $4)
ORDER BY r.id;

-- name: redrive_outcomes
-- What the worker decided for these events (source, id, shop, order): the processed outcome,
-- and the reason of the rejection if it was rejected. Events it has not seen are left out.
SELECT k.source, k.event_id, p.outcome, r.reason
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(source, event_id, shop_id, order_id)
LEFT JOIN processed_events p ON p.source = k.source AND p.event_id = k.event_id
LEFT JOIN LATERAL (
    SELECT x.reason FROM rejected_events x
    WHERE x.shop_id = k.shop_id AND x.order_id = k.order_id
      AND x.source = k.source AND x.event_id = k.event_id
    ORDER BY x.id DESC LIMIT 1
) r ON true
WHERE p.outcome IS NOT NULL OR r.reason IS NOT NULL;

-- name: policy_check_log
-- The logged events of these orders: sequence, the inbound event that caused each, and when.
SELECT e.shop_id, e.order_id, e.sequence, (e.event::jsonb -> 'data' ->> 'cause_event_id') AS cause,
       e.recorded_at
FROM order_events e
JOIN unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
  ON e.shop_id = k.shop_id AND e.order_id = k.order_id
ORDER BY e.shop_id, e.order_id, e.sequence;

-- name: policy_check_snapshots
-- The logged events at these sequences: the order's snapshot then and its history length.
SELECT e.shop_id, e.order_id, e.sequence, e.event, e.history_len
FROM order_events e
JOIN unnest($1::text[], $2::text[], $3::bigint[]) AS k(shop_id, order_id, sequence)
  ON e.shop_id = k.shop_id AND e.order_id = k.order_id AND e.sequence = k.sequence;

-- name: policy_check_processed_before
-- Which of these events (source, id) the worker had processed before the moment: in the
-- window they are redeliveries.
SELECT p.source, p.event_id
FROM processed_events p
JOIN unnest($1::text[], $2::text[]) AS k(source, event_id)
  ON p.source = k.source AND p.event_id = k.event_id
WHERE p.processed_at < $3;
