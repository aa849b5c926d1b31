-- The order event log (README "Time and history"): every outbound order event, kept for good,
-- written in the transaction that applied its change. GET /v2/orders/{id}?as_of= and
-- /v2/orders/{id}/events read an order's rows; GET /v2/changes follows a shop's rows in
-- commit order.
--   sequence     the event's sequence (orders.last_sequence after it)
--   event        the outbound CloudEvent as published, with the order's snapshot
--   history_len  how many order_state_history rows the order had after the change
--   recorded_at  the database's clock at the write, just before the commit: one clock for
--                every writer, and per order it only grows (writers of an order take turns)
--   xid, position  the writing transaction and the insert order: the changes feed's order
--                (orderstate.api.changes explains why not position alone)
CREATE TABLE order_events (
    shop_id     text        NOT NULL,
    order_id    text        NOT NULL,
    sequence    bigint      NOT NULL,
    event_id    text        NOT NULL,
    type        text        NOT NULL,
    event       text        NOT NULL,
    history_len integer     NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT statement_timestamp(),
    xid         xid8        NOT NULL DEFAULT pg_current_xact_id(),
    position    bigint      GENERATED ALWAYS AS IDENTITY,
    PRIMARY KEY (shop_id, order_id, sequence)
);
CREATE INDEX order_events_feed ON order_events (shop_id, xid, position);

-- The order events the outbox still holds (ORDERSTATE_OUTBOX_RETENTION_HOURS) start the log,
-- in the order they were written; older changes are not known any more. Their history
-- length is the number of states recorded by then (a state's recorded_at is its event's time).
INSERT INTO order_events (shop_id, order_id, sequence, event_id, type, event, history_len,
                          recorded_at)
SELECT o.shop_id, o.order_id, (o.event::jsonb ->> 'sequence')::bigint, o.event_id,
       o.event::jsonb ->> 'type', o.event,
       (SELECT count(*) FROM order_state_history h
        WHERE h.shop_id = o.shop_id AND h.order_id = o.order_id
          AND h.recorded_at <= (o.event::jsonb ->> 'time')::timestamptz),
       o.created_at
FROM outbox o
WHERE o.topic_role = 'order_events_out'
ORDER BY o.id
ON CONFLICT DO NOTHING;
