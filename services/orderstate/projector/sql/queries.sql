-- Named queries of the write path. Each starts with "-- name: <name>" and a line saying
-- what it is for; orderstate.projector.queries loads them. Every statement takes whole
-- batches as arrays, so a batch costs a fixed number of round trips, not one per event.

-- name: lock_orders
-- Serialise writers per order: advisory locks on the key hashes, taken in sorted order so
-- two batches (or a batch and a REST write) can never wait on each other in a cycle.
SELECT pg_advisory_xact_lock(h)
FROM (SELECT DISTINCT hashtextextended(k, 0) AS h FROM unnest($1::text[]) AS k ORDER BY h) AS s;

-- name: lock_batch_orders
-- The first statement of a batch: lock every order it writes, and name the orders it writes
-- because of a parked event that its log clocks pass ($2 the pairs, $3 the latest clock the
-- batch reaches on each; expiring a parked event writes to its order's rejections). $1 holds
-- the other orders as "shop:order". The locks are lock_orders' advisory locks, taken in the
-- same sorted order. Returns the parked events' orders as (shop_id, order_id) records.
-- It also has the rest of the transaction run every statement on its generic plan, planned
-- once per connection (with asyncpg's statement cache; without it, as behind PgBouncer, each
-- batch plans anew either way): on a database in service (analysed tables) PostgreSQL chose a custom
-- plan for batch_reads and write_batch on every run, planning a statement of 14 sub-statements
-- for each batch: with generic plans the backend spent 0.74x on a batch of one
-- (bench/results-worker-cost.md). Their arrays are looked up through primary keys and two
-- indexes whatever their size, so the plan need not depend on the values. A REST write's
-- batch is a savepoint of the request's transaction, so the request's later statements
-- (the histories it answers with, its idempotency record) run on generic plans too: lookups
-- by key as well.
WITH due AS (
    SELECT DISTINCT p.shop_id, p.order_id
    FROM parked_events p
    JOIN unnest($2::int[], $3::bigint[]) AS u(pair, until)
      ON p.pair = u.pair AND p.due_ms <= u.until
)
SELECT (SELECT count(pg_advisory_xact_lock(h))
        FROM (SELECT DISTINCT hashtextextended(k, 0) AS h
              FROM (SELECT unnest($1::text[]) AS k
                    UNION ALL SELECT shop_id || ':' || order_id FROM due) AS keys
              ORDER BY h) AS s) AS locked,
       array(SELECT row(shop_id, order_id) FROM due) AS due,
       set_config('plan_cache_mode', 'force_generic_plan', true) AS plans;

-- name: batch_reads
-- The second statement of a batch, after lock_batch_orders: everything it reads, in one
-- round trip. Under READ COMMITTED a statement reads the snapshot taken when it starts, so
-- these reads must not share the statement that waits for the locks: they would miss what the
-- writer they waited for committed. Each column is one of the reads:
-- - processed: which of these (source, id) pairs ($1, $2) were applied before;
-- - with_history, by_reference: the forms to store in (projector/write_forms.py). The share
--   locks make a switch of a form wait for the batches in flight, and the batches after it
--   see the new form. One subquery per one-row table, not a join: those tables are never
--   analysed, so a join of the two was estimated at 7.4 million rows, above jit_above_cost,
--   and every batch paid 2.5-3 ms for an LLVM compilation
--   (tests/integration/test_statement_plans.py);
-- - moments: which of these (order, state, occurred_at) ($5-$8) the histories hold already,
--   as recorded_moments reads them (index order_state_history_moment);
-- - views: the views of the orders ($3, $4), deleted ones included, with the last outbound
--   sequence number each used, as load_views reads them;
-- - parked: their parked shipment events, in the order they came (their place in the log).
SELECT
    array(SELECT row(p.source, p.event_id)
          FROM processed_events p
          JOIN unnest($1::text[], $2::text[]) AS k(source, event_id)
            ON p.source = k.source AND p.event_id = k.event_id) AS processed,
    (SELECT with_history FROM view_form FOR SHARE) AS with_history,
    (SELECT by_reference FROM outbox_form FOR SHARE) AS by_reference,
    array(SELECT row(h.shop_id, h.order_id, h.state, h.occurred_at)
          FROM order_state_history h
          JOIN unnest($5::text[], $6::text[], $7::text[], $8::timestamptz[])
               AS k(shop_id, order_id, state, occurred_at)
            ON h.shop_id = k.shop_id AND h.order_id = k.order_id AND h.state = k.state
               AND h.occurred_at = k.occurred_at) AS moments,
    array(SELECT row(o.shop_id, o.order_id, o.view, o.last_sequence)
          FROM orders o
          JOIN unnest($3::text[], $4::text[]) AS k(shop_id, order_id)
            ON o.shop_id = k.shop_id AND o.order_id = k.order_id) AS views,
    array(SELECT row(p.source, p.event_id, p.shop_id, p.order_id, p.topic_role, p.event::text,
                     p.pair, p.due_ms)
          FROM parked_events p
          JOIN unnest($3::text[], $4::text[]) AS k(shop_id, order_id)
            ON p.shop_id = k.shop_id AND p.order_id = k.order_id
          ORDER BY p.source_offset NULLS LAST, p.parked_at, p.event_id) AS parked;

-- name: load_views
-- The current views of the orders a batch touches, deleted ones included, with the last
-- outbound sequence number each used.
SELECT o.shop_id, o.order_id, o.view, o.last_sequence
FROM orders o
JOIN unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
  ON o.shop_id = k.shop_id AND o.order_id = k.order_id;

-- name: recorded_moments
-- Which of these (order, state, occurred_at) are already in the orders' histories: a late
-- state at a recorded moment is a duplicate (index order_state_history_moment).
SELECT DISTINCT h.shop_id, h.order_id, h.state, h.occurred_at
FROM order_state_history h
JOIN unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[])
     AS k(shop_id, order_id, state, occurred_at)
  ON h.shop_id = k.shop_id AND h.order_id = k.order_id AND h.state = k.state
     AND h.occurred_at = k.occurred_at;

-- name: set_outbox_form
UPDATE outbox_form SET by_reference = $1;

-- name: outbox_without_text
SELECT count(*) FROM outbox WHERE event IS NULL AND sent_at IS NULL;

-- name: outbox_fill_text
-- The text of the next $2 unsent rows stored by reference after id $1, from their order event
-- log rows: the last id looked at (NULL when none was left), how many were looked at, and how
-- many got their text.
WITH chunk AS (
    SELECT id FROM outbox
    WHERE event IS NULL AND sent_at IS NULL AND id > $1
    ORDER BY id
    LIMIT $2
), filled AS (
    UPDATE outbox o SET event = l.event
    FROM chunk c, order_events l
    WHERE o.id = c.id
      AND l.shop_id = o.shop_id AND l.order_id = o.order_id AND l.sequence = o.sequence
    RETURNING o.id
)
SELECT (SELECT max(id) FROM chunk) AS last, (SELECT count(*) FROM chunk) AS looked_at,
       (SELECT count(*) FROM filled) AS filled;

-- name: set_view_form
UPDATE view_form SET with_history = $1;

-- name: write_batch
-- Everything a batch writes, in one round trip instead of up to ten: at a paced rate a batch
-- holds an event or two, and each round trip cost more than deciding the event
-- (bench/results-batch-cost.md). One data-modifying CTE per table, each over its own arrays.
-- A batch sends it without the CTEs whose first array is empty (their other arrays are
-- their other columns or, for a delete, the rows kept), its parameters renumbered
-- (projector/write_statement.py, which finds each CTE by its opening line, "WITH name AS ("
-- or "), name AS (", and the end by the line ")"), so no CTE may refer to another.
--
-- PostgreSQL runs the sub-statements of one statement in no set order, and none sees what
-- another wrote, so no two of them may touch the same row:
-- - items and shipments: the rows of a changed order that its new list no longer holds are
--   deleted, the others upserted (a DELETE and an INSERT of the same keys would collide);
-- - processed events: the outcomes updated are of events parked by an earlier batch, the
--   rows inserted of this batch's events (a parked event resolved in its own batch changes
--   its pending row instead, projector/apply.py);
-- - parked events: those deleted were parked by an earlier batch, those inserted by this one.
--   One event can be both when its processed row is gone (retention) and it comes again
--   after its deadline: the old row is resolved and the event parked anew. writes.py then
--   leaves it out of the deletes, and the insert replaces the row (ON CONFLICT).
-- Foreign keys are checked at the end of the statement, so a new order's items, shipments
-- and history may come with it. Within a table, rows keep their array order (ORDER BY n),
-- the order the batch decided them in, which gives the outbox and the log their ids.
-- The batch's last statement before COMMIT, as the log's recorded_at
-- (statement_timestamp()) expects.
--
-- $1 the batch's time. Orders: $2-$17. Items: $18-$19 the orders whose items changed,
-- $20-$29 their items. Shipments: $30-$31 and $32-$41, likewise. History: $42-$51.
-- Outcomes of earlier parked events: $52-$54. Parked: $55-$56 resolved, $57-$66 new.
-- Processed: $67-$71. Rejected: $72-$79. Outbox: $80-$85, $86 notify, $100 sequences (an
-- order event's row by reference has a sequence and no text). Order events: $87-$93.
-- Offsets: $94 consumer group, $95-$99.
WITH orders_written AS (
INSERT INTO orders AS o (shop_id, order_id, order_url, order_date, language,
                         promised_delivery_date, tags, boarding_complete, state,
                         payment_evidence, version, deleted, created_at, updated_at, view,
                         last_sequence)
SELECT u.shop_id, u.order_id, u.order_url, u.order_date, u.language, u.promised_delivery_date,
       u.tags::jsonb, u.boarding_complete, u.state, u.payment_evidence, u.version, u.deleted,
       u.created_at, u.updated_at, u.view, u.last_sequence
FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::text[],
            $7::timestamptz[], $8::text[], $9::bool[], $10::text[], $11::bool[], $12::int[],
            $13::bool[], $14::timestamptz[], $15::timestamptz[], $16::text[], $17::bigint[])
     AS u(shop_id, order_id, order_url, order_date, language, promised_delivery_date, tags,
          boarding_complete, state, payment_evidence, version, deleted, created_at,
          updated_at, view, last_sequence)
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
    view = EXCLUDED.view,
    last_sequence = EXCLUDED.last_sequence
), items_dropped AS (
    DELETE FROM order_items i
    USING unnest($18::text[], $19::text[]) AS k(shop_id, order_id)
    WHERE i.shop_id = k.shop_id AND i.order_id = k.order_id
      AND NOT EXISTS (
          SELECT FROM unnest($20::text[], $21::text[], $22::text[]) AS n(shop_id, order_id, item_id)
          WHERE n.shop_id = i.shop_id AND n.order_id = i.order_id AND n.item_id = i.item_id)
), items_written AS (
    INSERT INTO order_items (shop_id, order_id, item_id, position, sku, name, quantity,
                             unit_price, currency, status)
    SELECT * FROM unnest($20::text[], $21::text[], $22::text[], $23::int[], $24::text[],
                         $25::text[], $26::int[], $27::numeric[], $28::text[], $29::text[])
    ON CONFLICT (shop_id, order_id, item_id) DO UPDATE SET
        position = EXCLUDED.position,
        sku = EXCLUDED.sku,
        name = EXCLUDED.name,
        quantity = EXCLUDED.quantity,
        unit_price = EXCLUDED.unit_price,
        currency = EXCLUDED.currency,
        status = EXCLUDED.status
), shipments_dropped AS (
    DELETE FROM order_shipments s
    USING unnest($30::text[], $31::text[]) AS k(shop_id, order_id)
    WHERE s.shop_id = k.shop_id AND s.order_id = k.order_id
      AND NOT EXISTS (
          SELECT FROM unnest($32::text[], $33::text[], $34::text[])
                      AS n(shop_id, order_id, shipment_id)
          WHERE n.shop_id = s.shop_id AND n.order_id = s.order_id
            AND n.shipment_id = s.shipment_id)
), shipments_written AS (
    INSERT INTO order_shipments (shop_id, order_id, shipment_id, position, direction, status,
                                 carrier, tracking_code, linked_at, status_at)
    SELECT * FROM unnest($32::text[], $33::text[], $34::text[], $35::int[], $36::text[],
                         $37::text[], $38::text[], $39::text[], $40::timestamptz[],
                         $41::timestamptz[])
    ON CONFLICT (shop_id, order_id, shipment_id) DO UPDATE SET
        position = EXCLUDED.position,
        direction = EXCLUDED.direction,
        status = EXCLUDED.status,
        carrier = EXCLUDED.carrier,
        tracking_code = EXCLUDED.tracking_code,
        linked_at = EXCLUDED.linked_at,
        status_at = EXCLUDED.status_at
), history AS (
    INSERT INTO order_state_history (shop_id, order_id, seq, state, occurred_at, recorded_at,
                                     cause_event_id, late, location, occurred_offset_s)
    SELECT * FROM unnest($42::text[], $43::text[], $44::int[], $45::text[], $46::timestamptz[],
                         $47::timestamptz[], $48::text[], $49::bool[], $50::text[], $51::int[])
), outcomes AS (
    UPDATE processed_events p SET outcome = u.outcome
    FROM unnest($52::text[], $53::text[], $54::text[]) AS u(source, event_id, outcome)
    WHERE p.source = u.source AND p.event_id = u.event_id
), unparked AS (
    DELETE FROM parked_events p
    USING unnest($55::text[], $56::text[]) AS k(source, event_id)
    WHERE p.source = k.source AND p.event_id = k.event_id
), parked AS (
    INSERT INTO parked_events (source, event_id, shop_id, order_id, topic_role, event, pair,
                               source_topic, source_offset, due_ms, parked_at)
    SELECT s, e, sh, o, r, ev::jsonb, pr, st, so, d, $1
    FROM unnest($57::text[], $58::text[], $59::text[], $60::text[], $61::text[], $62::text[],
                $63::int[], $64::text[], $65::bigint[], $66::bigint[])
         AS u(s, e, sh, o, r, ev, pr, st, so, d)
    ON CONFLICT (source, event_id) DO UPDATE SET
        shop_id = EXCLUDED.shop_id,
        order_id = EXCLUDED.order_id,
        topic_role = EXCLUDED.topic_role,
        event = EXCLUDED.event,
        pair = EXCLUDED.pair,
        source_topic = EXCLUDED.source_topic,
        source_offset = EXCLUDED.source_offset,
        due_ms = EXCLUDED.due_ms,
        parked_at = EXCLUDED.parked_at
), processed AS (
    INSERT INTO processed_events (source, event_id, shop_id, order_id, outcome, processed_at)
    SELECT s, e, sh, o, oc, $1
    FROM unnest($67::text[], $68::text[], $69::text[], $70::text[], $71::text[])
         AS u(s, e, sh, o, oc)
), rejected AS (
    INSERT INTO rejected_events (shop_id, order_id, source, event_id, event_type, reason,
                                 message, original, rejected_at)
    SELECT sh, o, s, e, t, r, m, orig::jsonb, $1
    FROM unnest($72::text[], $73::text[], $74::text[], $75::text[], $76::text[], $77::text[],
                $78::text[], $79::text[]) AS u(sh, o, s, e, t, r, m, orig)
), outbox_rows AS (
    INSERT INTO outbox (topic_role, lane, shop_id, order_id, event_id, event, sequence,
                        created_at)
    SELECT r, l, sh, o, e, ev, sq, $1
    FROM unnest($80::text[], $81::int[], $82::text[], $83::text[], $84::text[], $85::text[],
                $100::bigint[])
         WITH ORDINALITY AS u(r, l, sh, o, e, ev, sq, n)
    ORDER BY n
), log_rows AS (
    INSERT INTO order_events (shop_id, order_id, sequence, event_id, type, event, history_len)
    SELECT sh, o, s, e, t, ev, h
    FROM unnest($87::text[], $88::text[], $89::bigint[], $90::text[], $91::text[], $92::text[],
                $93::int[]) WITH ORDINALITY AS u(sh, o, s, e, t, ev, h, n)
    ORDER BY n
), offsets AS (
    INSERT INTO consumer_offsets AS c (consumer_group, topic, partition, next_offset,
                                       partition_time, log_time, updated_at)
    SELECT $94, t, p, n, pt, lt, $1
    FROM unnest($95::text[], $96::int[], $97::bigint[], $98::bigint[], $99::bigint[])
         AS u(t, p, n, pt, lt)
    ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
        next_offset = EXCLUDED.next_offset,
        partition_time = EXCLUDED.partition_time,
        log_time = EXCLUDED.log_time,
        updated_at = EXCLUDED.updated_at
    WHERE c.next_offset < EXCLUDED.next_offset
)
SELECT pg_notify('orderstate_outbox', '') WHERE $86::bool;

-- name: store_offsets
-- The next offset to read per partition and the partition's merge time there; a replay from
-- here is harmless, a gap impossible. Offsets only move forward: a worker that lost its
-- partitions while it was stopped or cut off cannot write an older position over its
-- successor's.
INSERT INTO consumer_offsets AS c (consumer_group, topic, partition, next_offset,
                                   partition_time, log_time, updated_at)
SELECT $1, t, p, n, pt, lt, $7
FROM unnest($2::text[], $3::int[], $4::bigint[], $5::bigint[], $6::bigint[])
     AS u(t, p, n, pt, lt)
ON CONFLICT (consumer_group, topic, partition) DO UPDATE SET
    next_offset = EXCLUDED.next_offset,
    partition_time = EXCLUDED.partition_time,
    log_time = EXCLUDED.log_time,
    updated_at = EXCLUDED.updated_at
WHERE c.next_offset < EXCLUDED.next_offset;

-- name: load_offsets
SELECT topic, partition, next_offset, partition_time, log_time FROM consumer_offsets
WHERE consumer_group = $1 AND topic = ANY($2::text[]);

-- name: offsets_with_age
-- Stored offsets with the seconds since the batch that last moved them (on the database's
-- clock, the one that wrote updated_at).
SELECT topic, partition, next_offset,
       extract(epoch FROM clock_timestamp() - updated_at)::float8 AS age_s
FROM consumer_offsets
WHERE consumer_group = $1 AND topic = ANY($2::text[]);

-- name: parked_due_by_pair
-- The earliest parked deadline of each of these pairs, for pairs too quiet to pass it.
SELECT pair, min(due_ms) AS due_ms FROM parked_events
WHERE pair = ANY($1::int[])
GROUP BY pair;

-- name: parked_without_pair
-- Rows parked before migration 5, which the worker gives their pair at start.
SELECT source, event_id, shop_id, order_id FROM parked_events WHERE pair IS NULL;

-- name: set_parked_pairs
UPDATE parked_events p SET pair = u.pair
FROM unnest($1::text[], $2::text[], $3::int[]) AS u(source, event_id, pair)
WHERE p.source = u.source AND p.event_id = u.event_id;

-- name: relay_claim_lanes
-- The lanes that have rows to publish, found by walking down the outbox_unsent index one lane
-- at a time (at most 64 probes, whatever the backlog), then those no other relay holds: each
-- one's advisory lock is taken for the rest of the transaction.
WITH RECURSIVE pending(lane) AS (
    (SELECT lane FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL ORDER BY lane LIMIT 1)
    UNION ALL
    SELECT (SELECT o.lane FROM outbox o
            WHERE o.sent_at IS NULL AND o.dead_at IS NULL AND o.lane > p.lane
            ORDER BY o.lane LIMIT 1)
    FROM pending p WHERE p.lane IS NOT NULL
)
SELECT lane FROM pending
WHERE lane IS NOT NULL AND pg_try_advisory_xact_lock($1, lane);

-- name: relay_take_rows
-- Up to $2 of the oldest rows of each claimed lane, in id (commit) order, skipping orders that
-- have a dead-lettered row: their later rows wait behind it. A row stored by reference gets
-- the text of its order event log row (NULL if that row is missing: the relay sets it aside).
SELECT o.id, o.lane, o.topic_role, o.shop_id, o.order_id, coalesce(o.event, l.event) AS event,
       o.created_at
FROM unnest($1::smallint[]) AS f(lane)
CROSS JOIN LATERAL (
    SELECT r.id, r.lane, r.topic_role, r.shop_id, r.order_id, r.event, r.sequence, r.created_at
    FROM outbox r
    WHERE r.lane = f.lane AND r.sent_at IS NULL AND r.dead_at IS NULL
      AND NOT EXISTS (
          SELECT 1 FROM outbox d
          WHERE d.dead_at IS NOT NULL AND d.shop_id = r.shop_id AND d.order_id = r.order_id
            AND d.id < r.id)
    ORDER BY r.id
    LIMIT $2
    FOR UPDATE SKIP LOCKED
) o
LEFT JOIN order_events l
  ON o.event IS NULL
     AND l.shop_id = o.shop_id AND l.order_id = o.order_id AND l.sequence = o.sequence
ORDER BY o.lane, o.id;

-- name: relay_mark_sent
UPDATE outbox SET sent_at = $2 WHERE id = ANY($1::bigint[]);

-- name: relay_mark_dead
UPDATE outbox o SET dead_at = $3, dead_reason = u.reason
FROM unnest($1::bigint[], $2::text[]) AS u(id, reason)
WHERE o.id = u.id;

-- name: relay_backlog
SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_at IS NULL) AS backlog,
       (SELECT count(*) FROM outbox WHERE dead_at IS NOT NULL) AS dead;

-- name: outbox_dead_rows
-- Dead-lettered rows, oldest first, with what waits behind each.
SELECT d.id, d.shop_id, d.order_id, d.topic_role, d.event_id, d.dead_at, d.dead_reason,
       length(coalesce(d.event, (SELECT l.event FROM order_events l
                                 WHERE l.shop_id = d.shop_id AND l.order_id = d.order_id
                                   AND l.sequence = d.sequence))) AS bytes,
       (SELECT count(*) FROM outbox w
        WHERE w.shop_id = d.shop_id AND w.order_id = d.order_id AND w.id > d.id
          AND w.sent_at IS NULL) AS waiting
FROM outbox d
WHERE d.dead_at IS NOT NULL AND ($1::text IS NULL OR d.shop_id = $1)
ORDER BY d.id;

-- name: outbox_retry
-- Give dead-lettered rows back to the relay (after the cause was fixed, e.g. the broker's
-- message size raised).
UPDATE outbox SET dead_at = NULL, dead_reason = NULL
WHERE dead_at IS NOT NULL AND (id = ANY($1::bigint[]) OR $2)
RETURNING id;

-- name: outbox_skip
-- Give up on dead-lettered rows: they count as sent and are never published; the orders'
-- consumers see the gap in sequence.
UPDATE outbox SET sent_at = $3, dead_reason = dead_reason || ' (skipped)', dead_at = NULL
WHERE dead_at IS NOT NULL AND (id = ANY($1::bigint[]) OR $2)
RETURNING id;

-- name: retention_outbox
-- One batch of published outbox rows past their retention.
DELETE FROM outbox WHERE id IN (
    SELECT id FROM outbox WHERE sent_at IS NOT NULL AND sent_at < $1 LIMIT $2);

-- name: retention_processed_events
DELETE FROM processed_events WHERE ctid IN (
    SELECT ctid FROM processed_events WHERE processed_at < $1 LIMIT $2);

-- name: retention_idempotency_keys
DELETE FROM idempotency_keys WHERE ctid IN (
    SELECT ctid FROM idempotency_keys WHERE created_at < $1 LIMIT $2);

-- name: retention_rejected_events
DELETE FROM rejected_events WHERE id IN (
    SELECT id FROM rejected_events WHERE rejected_at < $1 LIMIT $2);

-- name: views_count
SELECT count(*) FROM orders;

-- name: views_chunk
-- The next $3 orders after ($1, $2), for rewriting the stored views a chunk at a time.
SELECT shop_id, order_id FROM orders
WHERE (shop_id, order_id) > ($1, $2)
ORDER BY shop_id, order_id
LIMIT $3;

-- name: views_with_history
-- Rewrite these orders' views in the form releases before migration 0009 read: the history
-- entries in the view (each occurred_at with the offset it was sent with), no summary.
UPDATE orders o
SET view = ((o.view::jsonb - 'history_length' - 'created_in' - 'created_by' - 'completed_once')
            || jsonb_build_object('history', coalesce((
                SELECT jsonb_agg(jsonb_build_object(
                    'state', h.state,
                    'occurred_at',
                        to_char(h.occurred_at AT TIME ZONE 'UTC'
                                    + make_interval(secs => coalesce(h.occurred_offset_s, 0)),
                                'YYYY-MM-DD"T"HH24:MI:SS.US')
                        || CASE WHEN coalesce(h.occurred_offset_s, 0) < 0 THEN '-' ELSE '+' END
                        || to_char(make_interval(secs => abs(coalesce(h.occurred_offset_s, 0))),
                                   'HH24:MI'),
                    'recorded_at', h.recorded_at,
                    'cause_event_id', h.cause_event_id,
                    'late', h.late,
                    'location', h.location) ORDER BY h.seq)
                FROM order_state_history h
                WHERE h.shop_id = o.shop_id AND h.order_id = o.order_id), '[]'::jsonb)))::text
FROM unnest($1::text[], $2::text[]) AS k(shop_id, order_id)
WHERE o.shop_id = k.shop_id AND o.order_id = k.order_id;
