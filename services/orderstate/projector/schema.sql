-- Current full schema; tests/integration/test_migrations.py proves the migrations produce it.
-- The read model (docs/architecture.md): current order views and their parts, the
-- bookkeeping that makes projection exactly-once in effect, and the outbox.
-- Every row carries shop_id and every query filters on it.

CREATE TABLE orders (
    shop_id                text        NOT NULL,
    order_id               text        NOT NULL,
    order_url              text,
    order_date             timestamptz NOT NULL,
    language               text,
    promised_delivery_date timestamptz,
    tags                   jsonb       NOT NULL DEFAULT '{}',
    boarding_complete      boolean     NOT NULL DEFAULT false,
    state                  text        NOT NULL,
    payment_evidence       boolean     NOT NULL DEFAULT false,
    version                integer     NOT NULL CHECK (version >= 1),
    deleted                boolean     NOT NULL DEFAULT false,
    created_at             timestamptz NOT NULL,
    updated_at             timestamptz NOT NULL,
    -- The view as decide() sees it (items, shipments, and a summary of the history, whose
    -- entries are in order_state_history: projector/stored_views.py), as JSON text: the write
    -- path loads a batch of views in one query and parses them in one call each, instead of
    -- joining four tables per batch. The columns above and the tables below serve reads and
    -- filters; nothing queries inside this one.
    view                   text        NOT NULL,
    -- The last outbound sequence number used: every outbound event of the order gets the next.
    last_sequence          bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (shop_id, order_id)
);
CREATE INDEX orders_shop_state ON orders (shop_id, state, order_id) WHERE NOT deleted;
CREATE INDEX orders_shop_updated ON orders (shop_id, updated_at, order_id)
    INCLUDE (order_date, state) WHERE NOT deleted;
CREATE INDEX orders_shop_order_date ON orders (shop_id, order_date, order_id)
    INCLUDE (updated_at, state) WHERE NOT deleted;

CREATE TABLE order_items (
    shop_id    text    NOT NULL,
    order_id   text    NOT NULL,
    item_id    text    NOT NULL,
    position   integer NOT NULL,
    sku        text    NOT NULL,
    name       text,
    quantity   integer NOT NULL CHECK (quantity >= 1),
    unit_price numeric(16, 4),
    currency   char(3),
    status     text    NOT NULL,
    PRIMARY KEY (shop_id, order_id, item_id),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders ON DELETE CASCADE
);

CREATE TABLE order_shipments (
    shop_id       text        NOT NULL,
    order_id      text        NOT NULL,
    shipment_id   text        NOT NULL,
    position      integer     NOT NULL,
    direction     text        NOT NULL CHECK (direction IN ('outbound', 'return')),
    status        text        NOT NULL,
    carrier       text,
    tracking_code text,
    linked_at     timestamptz NOT NULL,
    status_at     timestamptz NOT NULL,
    PRIMARY KEY (shop_id, order_id, shipment_id),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders ON DELETE CASCADE
);
CREATE INDEX order_shipments_shop_shipment ON order_shipments (shop_id, shipment_id);
CREATE INDEX order_shipments_shop_linked ON order_shipments (shop_id, linked_at, order_id, shipment_id);

CREATE TABLE order_state_history (
    shop_id        text        NOT NULL,
    order_id       text        NOT NULL,
    seq            integer     NOT NULL,
    state          text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    cause_event_id text        NOT NULL,
    late           boolean     NOT NULL,
    location       text,
    -- The UTC offset occurred_at was given with, in seconds (NULL: shown in UTC).
    occurred_offset_s integer,
    PRIMARY KEY (shop_id, order_id, seq),
    FOREIGN KEY (shop_id, order_id) REFERENCES orders ON DELETE CASCADE
);
CREATE INDEX order_state_history_moment
    ON order_state_history (shop_id, order_id, state, occurred_at);

-- Which form the write path stores views in (projector/stored_views.py): with their history
-- entries while pods of a release before migration 0009 may run, else the summary form.
CREATE TABLE view_form (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    with_history boolean NOT NULL
);

-- Whether the write path stores an order event's outbox row by reference to its order event
-- log row, without the text (migration 0012): not while relays of a release before it may run.
CREATE TABLE outbox_form (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    by_reference boolean NOT NULL
);

-- (source, id) identifies a CloudEvent; a redelivered event finds its row and does nothing.
CREATE TABLE processed_events (
    source       text        NOT NULL,
    event_id     text        NOT NULL,
    shop_id      text        NOT NULL,
    order_id     text        NOT NULL,
    outcome      text        NOT NULL,
    processed_at timestamptz NOT NULL,
    PRIMARY KEY (source, event_id)
);
CREATE INDEX processed_events_age ON processed_events (processed_at);

-- The next offset to read per partition, written in the transaction that applied the batch.
CREATE TABLE consumer_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL,
    -- The running maxima of the merge keys and of the Kafka timestamps up to next_offset (ms
    -- since the epoch), so a restarted worker continues the deterministic merge of the
    -- partition pair, and its log clock, where it stopped.
    partition_time bigint      NOT NULL DEFAULT 0,
    log_time       bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Events waiting for the relay. lane = hash of the key: one relay at a time publishes a
-- lane, in id order, which keeps every order's events in commit order with many relays.
CREATE TABLE outbox (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    topic_role text        NOT NULL,
    lane       smallint    NOT NULL,
    shop_id    text        NOT NULL,
    order_id   text        NOT NULL,
    event_id   text        NOT NULL,
    -- Text, not jsonb: written once, sent as is by the relay; parsing it would cost every batch.
    -- NULL for an order event stored by reference (outbox_form): the relay reads the text of
    -- its order_events row, (shop_id, order_id, sequence).
    event      text,
    created_at timestamptz NOT NULL,
    sent_at    timestamptz,
    -- Set aside by the relay (for example over the broker's message size); the order's later
    -- rows wait behind it until an operator acts (`orderstate outbox`).
    dead_at     timestamptz,
    dead_reason text,
    -- The order event's sequence: its row in order_events.
    sequence    bigint,
    CONSTRAINT outbox_text_or_log_row
        CHECK (event IS NOT NULL OR (topic_role = 'order_events_out' AND sequence IS NOT NULL))
);
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
CREATE INDEX outbox_unsent ON outbox (lane, id) WHERE sent_at IS NULL AND dead_at IS NULL;
CREATE INDEX outbox_dead ON outbox (shop_id, order_id, id) WHERE dead_at IS NOT NULL;

-- The order event log (README "Time and history"): every outbound order event, kept for good,
-- written in the transaction that applied its change; as_of reads, an order's events and the
-- changes feed read it. recorded_at is the database's clock at the write; (xid, position) is
-- the feed's order (orderstate.api.changes says why not position alone).
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

-- Shipment events that arrived before their order (rule 9). due_ms is the deadline on the
-- log's clock: the event expires when the log clock of its partition pair passes it.
CREATE TABLE parked_events (
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
CREATE INDEX parked_events_order ON parked_events (shop_id, order_id);
CREATE INDEX parked_events_due ON parked_events (pair, due_ms);

CREATE TABLE rejected_events (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    shop_id     text        NOT NULL,
    order_id    text        NOT NULL,
    source      text,
    event_id    text,
    event_type  text,
    reason      text        NOT NULL,
    message     text        NOT NULL,
    original    jsonb       NOT NULL,
    rejected_at timestamptz NOT NULL
);
CREATE INDEX rejected_events_order ON rejected_events (shop_id, order_id);
CREATE INDEX rejected_events_reason ON rejected_events (shop_id, reason, rejected_at);
CREATE INDEX rejected_events_age ON rejected_events (rejected_at);

-- API keys of the REST API, stored as keyed hashes (HMAC-SHA256 with a server-side pepper):
-- the key itself is shown once, at creation, and never stored.
CREATE TABLE api_keys (
    key_id     text        PRIMARY KEY,
    shop_id    text        NOT NULL,
    key_hash   text        NOT NULL,
    label      text,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    -- How the REST API reads this key's requests: the client's known quirks, unknown body
    -- fields ignored or refused (NULL: ORDERSTATE_API_UNKNOWN_FIELDS), and the IANA zone of
    -- naive datetimes (NULL: ORDERSTATE_API_TIME_ZONE).
    profile        text NOT NULL DEFAULT 'standard',
    unknown_fields text CHECK (unknown_fields IN ('ignore', 'refuse')),
    time_zone      text
);
CREATE INDEX api_keys_shop ON api_keys (shop_id);

-- Responses of write requests sent with an Idempotency-Key, replayed for a retry with the same
-- key and body.
CREATE TABLE idempotency_keys (
    shop_id      text        NOT NULL,
    key          text        NOT NULL,
    request_hash text        NOT NULL,
    status       integer     NOT NULL,
    headers      jsonb       NOT NULL,
    body         text,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (shop_id, key)
);
CREATE INDEX idempotency_keys_age ON idempotency_keys (created_at);

-- Indexes for the list filters that had none (GET /v2/orders?filters[...], `make bench-api`);
-- each leads with shop_id, as every list is scoped to one shop.

-- filters[language]: counted by an index-only scan; a page of a rare language reads only it.
CREATE INDEX orders_shop_language ON orders (shop_id, language) WHERE NOT deleted;

-- filters[boarding_complete]: counted by an index-only scan.
CREATE INDEX orders_shop_boarding ON orders (shop_id, boarding_complete) WHERE NOT deleted;

-- filters[tag]: shop and tags in one GIN index, so the bitmap holds this shop's matches only
-- instead of every shop's. btree_gin (contrib, trusted) gives GIN the equality on text that
-- shop_id needs. (A GIN index of the tags alone, orders_tags, came before it; migration 0013
-- dropped it.)
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX orders_shop_tags ON orders USING gin (shop_id, tags jsonb_path_ops) WHERE NOT deleted;

-- Alerts of the order monitor (docs/monitor.md): one row per alert, written by the monitor
-- after the broker acknowledged its alert.raised or alert.cleared event, read by GET
-- /v2/alerts and the order representation. The alert id derives from shop, order, rule and
-- deadline, so writing the same alert again (a restart, a replay) updates its row.
CREATE TABLE order_alerts (
    shop_id         text        NOT NULL,
    alert_id        text        NOT NULL,
    order_id        text        NOT NULL,
    -- state_deadline.<state>, order_delayed, boarding_open or parked_too_long
    rule            text        NOT NULL,
    -- The order's state when the monitor last decided; NULL for parked_too_long.
    state           text,
    order_version   integer,
    since           timestamptz NOT NULL,
    deadline        timestamptz NOT NULL,
    raised_at       timestamptz NOT NULL,
    cleared_at      timestamptz,
    cleared_because text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (shop_id, alert_id)
);
CREATE INDEX order_alerts_order ON order_alerts (shop_id, order_id, raised_at);
CREATE INDEX order_alerts_shop_raised ON order_alerts (shop_id, raised_at DESC, alert_id);
CREATE INDEX order_alerts_open ON order_alerts (shop_id, rule) WHERE cleared_at IS NULL;
CREATE INDEX order_alerts_cleared ON order_alerts (cleared_at) WHERE cleared_at IS NOT NULL;
