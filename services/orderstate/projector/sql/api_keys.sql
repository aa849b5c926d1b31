-- Named queries of the REST API keys (orderstate.api.keys, `orderstate apikey`). Each starts
-- with "-- name: <name>" and a line saying what it is for; orderstate.projector.queries
-- loads every .sql file of this folder. A key's row holds only its keyed hash.

-- name: api_key_insert
-- A new key of a shop, with how the REST API reads its requests.
INSERT INTO api_keys (key_id, shop_id, key_hash, label, created_at, profile, unknown_fields,
                      time_zone)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: api_key_configure
-- How the REST API reads an active key's requests; "UPDATE 0" when the shop has no such
-- active key.
UPDATE api_keys SET profile = $3, unknown_fields = $4, time_zone = $5
WHERE key_id = $1 AND shop_id = $2 AND revoked_at IS NULL;

-- name: api_key_by_id
-- A key by its public id, of any shop, revoked or not: the caller checks the hash, the shop
-- and the revocation, and can say which of them failed.
SELECT key_id, shop_id, label, created_at, revoked_at, profile, unknown_fields, time_zone,
       key_hash
FROM api_keys WHERE key_id = $1;

-- name: api_key_of_shop
-- The key a bearer token names, if it belongs to the token's shop.
SELECT key_id, shop_id, label, created_at, revoked_at, profile, unknown_fields, time_zone
FROM api_keys WHERE key_id = $1 AND shop_id = $2;

-- name: api_keys_of_shop
-- Every key of a shop, oldest first (`orderstate apikey list`).
SELECT key_id, shop_id, label, created_at, revoked_at, profile, unknown_fields, time_zone
FROM api_keys WHERE shop_id = $1 ORDER BY created_at, key_id;

-- name: api_key_revoke
-- Revoke an active key of a shop; "UPDATE 0" when there is none.
UPDATE api_keys SET revoked_at = $3
WHERE key_id = $1 AND shop_id = $2 AND revoked_at IS NULL;
