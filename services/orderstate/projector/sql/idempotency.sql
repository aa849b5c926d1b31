-- Named queries of Idempotency-Key on REST writes (orderstate.api.idempotency).

-- name: idempotency_lock
-- Serialise requests with the same shop and key until the write's transaction ends.
SELECT pg_advisory_xact_lock(hashtextextended('idem:' || $1 || ':' || $2, 0));

-- name: idempotency_find
-- The stored answer to the first request with this key. A row past its retention ($3 is
-- now - retention) that the clean-up has not reached yet counts as gone.
SELECT request_hash, status, headers::text AS headers, body
FROM idempotency_keys WHERE shop_id = $1 AND key = $2 AND created_at >= $3;

-- name: idempotency_store
-- The answer to replay for later requests with this key.
-- A row past its retention may still be there: the new answer takes its place.
INSERT INTO idempotency_keys (shop_id, key, request_hash, status, headers, body, created_at)
VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)
ON CONFLICT (shop_id, key) DO UPDATE SET request_hash = EXCLUDED.request_hash,
    status = EXCLUDED.status, headers = EXCLUDED.headers, body = EXCLUDED.body,
    created_at = EXCLUDED.created_at;
