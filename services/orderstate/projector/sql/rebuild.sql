-- `orderstate rebuild` and `orderstate verify` (orderstate.rebuild): the target database made
-- ready and taken over, the tables carried over from the live database, and two projections
-- read chunk by chunk for comparison.

-- name: rebuild_holds_orders
SELECT EXISTS (SELECT 1 FROM orders) OR EXISTS (SELECT 1 FROM processed_events);

-- name: rebuild_database
SELECT current_database();

-- name: rebuild_stored_offsets
SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1;

-- name: rebuild_offsets_to_live_group
-- The replay's offsets become the live group's in the rebuilt database: a worker pointed at
-- it continues where the replay stopped. Overwritten, not moved forward only: the rebuilt
-- database's own replay is its truth.
INSERT INTO consumer_offsets AS c (consumer_group, topic, partition, next_offset,
                                   partition_time, log_time, updated_at)
SELECT $2, topic, partition, next_offset, partition_time, log_time, updated_at
FROM consumer_offsets WHERE consumer_group = $1
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset,
    partition_time = EXCLUDED.partition_time,
    log_time = EXCLUDED.log_time,
    updated_at = EXCLUDED.updated_at;

-- name: rebuild_outbox_mark_sent
-- The live relay published these events already (from the live database's outbox).
UPDATE outbox SET sent_at = clock_timestamp() WHERE sent_at IS NULL AND dead_at IS NULL;

-- name: rebuild_count_orders
SELECT count(*) FROM orders;

-- Tables that live only in PostgreSQL, carried from the live database: read as JSON rows,
-- upserted by primary key (a second copy brings changes over, revocations too).

-- name: rebuild_read_api_keys
SELECT to_jsonb(t)::text AS row FROM api_keys t;

-- name: rebuild_carry_api_keys
INSERT INTO api_keys
SELECT * FROM jsonb_populate_recordset(NULL::api_keys, $1::jsonb)
ON CONFLICT (key_id) DO UPDATE SET
    shop_id = EXCLUDED.shop_id,
    key_hash = EXCLUDED.key_hash,
    label = EXCLUDED.label,
    created_at = EXCLUDED.created_at,
    revoked_at = EXCLUDED.revoked_at,
    profile = EXCLUDED.profile,
    unknown_fields = EXCLUDED.unknown_fields,
    time_zone = EXCLUDED.time_zone;

-- name: rebuild_read_idempotency_keys
SELECT to_jsonb(t)::text AS row FROM idempotency_keys t;

-- name: rebuild_carry_idempotency_keys
INSERT INTO idempotency_keys
SELECT * FROM jsonb_populate_recordset(NULL::idempotency_keys, $1::jsonb)
ON CONFLICT (shop_id, key) DO UPDATE SET
    request_hash = EXCLUDED.request_hash,
    status = EXCLUDED.status,
    headers = EXCLUDED.headers,
    body = EXCLUDED.body,
    created_at = EXCLUDED.created_at;

-- name: rebuild_read_order_alerts
SELECT to_jsonb(t)::text AS row FROM order_alerts t;

-- name: rebuild_carry_order_alerts
INSERT INTO order_alerts
SELECT * FROM jsonb_populate_recordset(NULL::order_alerts, $1::jsonb)
ON CONFLICT (shop_id, alert_id) DO UPDATE SET
    order_id = EXCLUDED.order_id,
    rule = EXCLUDED.rule,
    state = EXCLUDED.state,
    order_version = EXCLUDED.order_version,
    since = EXCLUDED.since,
    deadline = EXCLUDED.deadline,
    raised_at = EXCLUDED.raised_at,
    cleared_at = EXCLUDED.cleared_at,
    cleared_because = EXCLUDED.cleared_because,
    updated_at = EXCLUDED.updated_at;

-- Comparison (`orderstate verify`). Orders are read in chunks of keys, in the order of the
-- primary keys: the next keys after ($1, $2) from every table with order keys (a rejected
-- or parked event may belong to no order), then each table's rows in the range
-- ($1, $2) < key <= ($3, $4), on its index.

-- name: rebuild_next_keys
(SELECT shop_id, order_id FROM orders WHERE (shop_id, order_id) > ($1, $2)
 ORDER BY shop_id, order_id LIMIT $3)
UNION
(SELECT DISTINCT shop_id, order_id FROM rejected_events WHERE (shop_id, order_id) > ($1, $2)
 ORDER BY shop_id, order_id LIMIT $3)
UNION
(SELECT DISTINCT shop_id, order_id FROM parked_events WHERE (shop_id, order_id) > ($1, $2)
 ORDER BY shop_id, order_id LIMIT $3);

-- name: rebuild_first_keys
-- Both databases' next keys in one order: this server's collation, the order of the ranges.
SELECT s AS shop_id, o AS order_id FROM unnest($1::text[], $2::text[]) AS k(s, o)
GROUP BY s, o ORDER BY s, o LIMIT $3;

-- name: rebuild_range_orders
SELECT shop_id, order_id, view, last_sequence, tags::text AS tags FROM orders
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_items
SELECT shop_id, order_id, item_id, position, sku, name, quantity,
       unit_price::text AS unit_price, currency, status
FROM order_items
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_shipments
SELECT shop_id, order_id, shipment_id, position, direction, status, carrier, tracking_code,
       linked_at, status_at
FROM order_shipments
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_history
-- Without recorded_at: the wall clock of the run that recorded it.
SELECT shop_id, order_id, seq, state, occurred_at, occurred_offset_s, cause_event_id, late,
       location
FROM order_state_history
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_rejections
SELECT shop_id, order_id, source, event_id, event_type, reason, original::text AS original
FROM rejected_events
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_parked
SELECT shop_id, order_id, source, event_id, topic_role, pair, source_topic, source_offset,
       due_ms, event::text AS event
FROM parked_events
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_range_events
-- The logged events' identities; the events themselves carry wall-clock times.
SELECT shop_id, order_id, sequence, event_id, type, history_len
FROM order_events
WHERE (shop_id, order_id) > ($1, $2) AND (shop_id, order_id) <= ($3, $4);

-- name: rebuild_collation
-- verify walks both databases in key order: only the same collation gives the same order.
SELECT datcollate FROM pg_database WHERE datname = current_database();
