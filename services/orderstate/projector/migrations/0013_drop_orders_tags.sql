-- orders_tags, GIN (tags) over every shop's orders, has served no query since migration 0004:
-- every order list is scoped to one shop, and its tag filter uses orders_shop_tags, GIN
-- (shop_id, tags). Yet every order write that is not a HOT update (and most are not: state
-- and updated_at are in other indexes) adds the order's tags to it again. Migration 0004
-- kept it so that the release before 0004 could still be rolled back to; every release since
-- has done without it. Dropping it takes a brief exclusive lock on orders: the index is small
-- (2 MB on a million orders), so the drop itself is instant once running reads are done.
DROP INDEX IF EXISTS orders_tags;
