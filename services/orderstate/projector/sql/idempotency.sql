-- Named queries of Idempotency-Key on REST writes (orderstate.api.idempotency).

-- name: idempotency_lock
-- Serialise requests with the same shop and key until the write's transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('idem:' || $1 || ':' || $2, 0));

-- name: idempotency_find
-- The stored answer to the first request with this key.
SELECT request_hash, status, headers::text AS headers, body
FROM idempotency_keys WHERE shop_id = $1 AND key = $2;

-- name: idempotency_store
-- The answer to replay for later requests with this key.
INSERT INTO idempotency_keys (shop_id, key, request_hash, status, headers, body, created_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7);
