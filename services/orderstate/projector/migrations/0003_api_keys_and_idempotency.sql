-- API keys of the REST API, stored as keyed hashes (HMAC-SHA256 with a server-side pepper):
-- the key itself is shown once, at creation, and never stored.
CREATE TABLE api_keys (
    key_id     text        PRIMARY KEY,
    shop_id    text        NOT NULL,
    key_hash   text        NOT NULL,
    label      text,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz
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
