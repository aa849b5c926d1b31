-- An order list with a time range on one column, sorted by another (filters[updated_at_from]
-- with the default order_by=order_date, say) sorts the keys of every order in the range: no
-- single B-tree gives that order. Its short-list page (orderstate.api.reads) reads only the
-- sort keys first. With the other time column and the state carried in the range's index,
-- those keys come from the index alone (an index-only scan on all-visible pages) instead of
-- one table row per matching order. On a shop of 100,000 orders (bench/time_indexes.py,
-- bench/results-api.md), the page of a 7-day updated_at range sorted by order_date or state
-- went from 4.2-6.2 ms to 1.0-1.8 ms, and that of a 30-day order_date range sorted by
-- updated_at or state from 6.2-8.8 ms to 1.4-2.1 ms. The two indexes grow by half (94 to
-- 142 MB per million orders); every update of an order already writes both, since
-- updated_at changes.
--
-- CREATE INDEX holds a SHARE lock on orders: reads go on, the worker's writes wait while it
-- builds, 2.4-3.2 s for both indexes on a million orders on this project's 2-core test machine
-- (README, "Upgrades, rollouts and rolling back"). DROP INDEX takes an ACCESS EXCLUSIVE lock,
-- which stops reads too until the migration's transaction commits: so both new indexes are
-- built first, and the old ones are dropped (and the new ones take their names) only at the
-- end, a moment before the commit.
CREATE INDEX orders_shop_updated_keys ON orders (shop_id, updated_at, order_id)
    INCLUDE (order_date, state) WHERE NOT deleted;
CREATE INDEX orders_shop_order_date_keys ON orders (shop_id, order_date, order_id)
    INCLUDE (updated_at, state) WHERE NOT deleted;

DROP INDEX orders_shop_updated;
DROP INDEX orders_shop_order_date;
ALTER INDEX orders_shop_updated_keys RENAME TO orders_shop_updated;
ALTER INDEX orders_shop_order_date_keys RENAME TO orders_shop_order_date;
