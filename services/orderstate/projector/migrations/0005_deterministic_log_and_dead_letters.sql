-- Same log, same orders (docs/reliability.md): what the worker needs to continue the
-- deterministic merge of a partition pair where it stopped, and to expire parked events on
-- log time instead of the wall clock; per-event outbound sequences; dead-lettered outbox rows;
-- indexes for the retention clean-up.

-- The partition's merge time after its last applied record (the running maximum of the
-- records' merge keys) and its log time (the running maximum of their Kafka timestamps), in
-- ms since the epoch, written with next_offset in the same transaction.
ALTER TABLE consumer_offsets
    ADD COLUMN partition_time bigint NOT NULL DEFAULT 0,
    ADD COLUMN log_time bigint NOT NULL DEFAULT 0;

-- The last outbound sequence number used for the order: every outbound event gets the next
-- one, so one change that emits two events gives them two numbers. Sequences so far equalled
-- the version, so the next event continues after it.
ALTER TABLE orders ADD COLUMN last_sequence bigint NOT NULL DEFAULT 0;
UPDATE orders SET last_sequence = version;

-- Where a parked event came from, and its deadline on the log's clock: it expires when the
-- log clock of its partition pair passes due_ms, so a replay expires it at the same point.
-- The table is rebuilt rather than altered so its columns keep a clean order. Rows parked
-- before this migration have no pair; the worker fills it in at start.
CREATE TABLE parked_events_new (
    source        text        NOT NULL,
    event_id      text        NOT NULL,
    shop_id       text        NOT NULL,
    order_id      text        NOT NULL,
    topic_role    text        NOT NULL,
    event         jsonb       NOT NULL,
    parked_at     timestamptz NOT NULL,
    pair          integer,
    source_topic  text,
    source_offset bigint,
    due_ms        bigint      NOT NULL,
    PRIMARY KEY (source, event_id)
);
INSERT INTO parked_events_new (source, event_id, shop_id, order_id, topic_role, event, parked_at,
                               due_ms)
SELECT source, event_id, shop_id, order_id, topic_role, event, parked_at,
       (extract(epoch FROM expires_at) * 1000)::bigint
FROM parked_events;
DROP TABLE parked_events;
ALTER TABLE parked_events_new RENAME TO parked_events;
ALTER INDEX parked_events_new_pkey RENAME TO parked_events_pkey;
CREATE INDEX parked_events_order ON parked_events (shop_id, order_id);
CREATE INDEX parked_events_due ON parked_events (pair, due_ms);

-- A row the relay cannot publish (for example over the broker's message size) is set aside
-- with the reason; the later rows of its order wait behind it until an operator acts.
ALTER TABLE outbox
    ADD COLUMN dead_at timestamptz,
    ADD COLUMN dead_reason text;
DROP INDEX outbox_unsent;
CREATE INDEX outbox_unsent ON outbox (lane, id) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox (shop_id, order_id, id) WHERE dead_at IS NOT NULL;

-- Retention clean-up deletes by age.
CREATE INDEX rejected_events_age ON rejected_events (rejected_at);
