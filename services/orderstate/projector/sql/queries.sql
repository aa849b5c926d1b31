-- Named queries of the write path. Each starts with "-- name: <name>" and a line saying
-- what it is for; orderstate.projector.queries loads them. Every statement takes whole
-- batches as arrays, so a batch costs a fixed number of round trips, not one per event.

-- name: lock_orders
-- Serialise writers per order: advisory locks on the key hashes, taken in sorted order so
-- two batches (or a batch and a REST write) can never wait on each other in a cycle.
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS s;

-- name: processed_among
-- Which of these (source, id) pairs were applied before.
SELECT p.source, p.event_id
FROM processed_events p
JOIN unnest($1::text[], $2::text[]) AS k(source, event_id)
  ON p.source = k.source AND p.event_id = k.event_id;

-- name: load_views
-- The current views of the orders a batch touches, deleted ones included.
SELECT o.view
FROM orders o
JOIN unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
  ON o.shop_id = k.shop_id AND o.order_id = k.order_id;

-- name: load_parked
-- Shipment events parked for these orders, oldest first.
SELECT p.source, p.event_id, p.shop_id, p.order_id, p.topic_role, p.event::text
FROM parked_events p
JOIN unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
  ON p.shop_id = k.shop_id AND p.order_id = k.order_id
ORDER BY p.parked_at, p.event_id;

-- name: upsert_orders
-- Write the final view of every order the batch changed.
INSERT INTO orders AS o (shop_id, order_id, order_url, order_date, language,
                         promised_delivery_date, tags, boarding_complete, state,
                         payment_evidence, version, deleted, created_at, updated_at, view)
SELECT u.shop_id, u.order_id, u.order_url, u.order_date, u.language, u.promised_delivery_date,
       u.tags::jsonb, u.boarding_complete, u.state, u.payment_evidence, u.version, u.deleted,
       u.created_at, u.updated_at, u.view
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[],
            $6::timestamptz[], $7::text[], $8::bool[], $9::text[], $10::bool[], $11::int[],
            $12::bool[], $13::timestamptz[], $14::timestamptz[], $15::text[])
     AS u(shop_id, order_id, order_url, order_date, language, promised_delivery_date, tags,
          boarding_complete, state, payment_evidence, version, deleted, created_at,
          updated_at, view)
ON CONFLICT (shop_id, order_id) DO UPDATE SET
    order_url = EXCLUDED.order_url,
    order_date = EXCLUDED.order_date,
    language = EXCLUDED.language,
    promised_delivery_date = EXCLUDED.promised_delivery_date,
    tags = EXCLUDED.tags,
    boarding_complete = EXCLUDED.boarding_complete,
    state = EXCLUDED.state,
    payment_evidence = EXCLUDED.payment_evidence,
    version = EXCLUDED.version,
    deleted = EXCLUDED.deleted,
    created_at = EXCLUDED.created_at,
    updated_at = EXCLUDED.updated_at,
    view = EXCLUDED.view;

-- name: delete_items
-- Items of orders whose items changed are rewritten whole.
DELETE FROM order_items i
USING unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
WHERE i.shop_id = k.shop_id AND i.order_id = k.order_id;

-- name: insert_items
INSERT INTO order_items (shop_id, order_id, item_id, position, sku, name, quantity,
                         unit_price, currency, status)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                     $7::int[], $8::numeric[], $9::text[], $10::text[]);

-- name: delete_shipments
DELETE FROM order_shipments s
USING unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
WHERE s.shop_id = k.shop_id AND s.order_id = k.order_id;

-- name: insert_shipments
INSERT INTO order_shipments (shop_id, order_id, shipment_id, position, direction, status,
                             carrier, tracking_code, linked_at, status_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[],
                     $7::text[], $8::text[], $9::timestamptz[], $10::timestamptz[]);

-- name: insert_history
INSERT INTO order_state_history (shop_id, order_id, seq, state, occurred_at, recorded_at,
                                 cause_event_id, late, location)
SELECT * FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::timestamptz[],
                     $6::timestamptz[], $7::text[], $8::bool[], $9::text[]);

-- name: insert_processed
INSERT INTO processed_events (source, event_id, shop_id, order_id, outcome, processed_at)
SELECT s, e, sh, o, oc, $6 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
     AS u(s, e, sh, o, oc);

-- name: insert_outbox
INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, created_at)
SELECT r, l, sh, o, e, ev, $7
FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[])
     WITH ORDINALITY AS u(r, l, sh, o, e, ev, n)
ORDER BY n;

-- name: insert_rejected
INSERT INTO rejected_events (shop_id, order_id, source, event_id, event_type, reason, message,
                             original, rejected_at)
SELECT sh, o, s, e, t, r, m, orig::jsonb, $9
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
            $8::text[]) AS u(sh, o, s, e, t, r, m, orig);

-- name: insert_parked
INSERT INTO parked_events (source, event_id, shop_id, order_id, topic_role, event, parked_at,
                           expires_at)
SELECT s, e, sh, o, r, ev::jsonb, $7, x
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $8::timestamptz[]) AS u(s, e, sh, o, r, ev, x);

-- name: delete_parked
DELETE FROM parked_events p
USING unnest($1::text[], $2::text[]) AS k(source, event_id)
WHERE p.source = k.source AND p.event_id = k.event_id;

-- name: store_offsets
-- The next offset to read per partition; a replay from here is harmless, a gap impossible.
INSERT INTO consumer_offsets (consumer_group, topic, partition, next_offset, updated_at)
SELECT $1, t, p, n, $5 FROM unnest($2::text[], $3::int[], $4::bigint[]) AS u(t, p, n)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset,
    updated_at = EXCLUDED.updated_at;

-- name: load_offsets
SELECT topic, partition, next_offset FROM consumer_offsets
WHERE consumer_group = $1 AND topic = ANY($2::text[]);

-- name: notify_outbox
SELECT pg_notify('orderstate_outbox', '');

-- name: expired_parked
-- Parked events whose order never came; the caller locks their orders, then deletes them.
SELECT p.source, p.event_id, p.shop_id, p.order_id, p.topic_role, p.event::text
FROM parked_events p
WHERE p.expires_at <= $1
ORDER BY p.expires_at
LIMIT $2;
