-- Indexes for the list filters that had none (GET /v2/orders?filters[...], `make bench-api`).
-- Without them the X-Total-Count of such a list read every order of the shop from the table:
-- about 300 ms per request for a shop of 100,000 orders (bench/README.md, "The API
-- benchmark"). Every list is scoped to one shop, so each index leads with shop_id.

-- filters[language]: counted by an index-only scan; a page of a rare language reads only it.
CREATE INDEX orders_shop_language ON orders (shop_id, language) WHERE NOT deleted;

-- filters[boarding_complete]: counted by an index-only scan.
CREATE INDEX orders_shop_boarding ON orders (shop_id, boarding_complete) WHERE NOT deleted;

-- filters[tag]: shop and tags in one GIN index, so the bitmap holds this shop's matches only
-- instead of every shop's (orders_tags). btree_gin gives GIN the equality on text that
-- shop_id needs; it ships with PostgreSQL (contrib) and is a trusted extension, so the
-- database owner may create it. orders_tags serves no query once this index exists; it can
-- be dropped in a later release (a migration keeps the previous release working).
CREATE EXTENSION IF NOT EXISTS btree_gin;
CREATE INDEX orders_shop_tags ON orders USING gin (shop_id, tags jsonb_path_ops) WHERE NOT deleted;
