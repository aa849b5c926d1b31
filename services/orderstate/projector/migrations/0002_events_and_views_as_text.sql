-- The outbox event and the order view are written whole and read whole, by the relay and by
-- the write path; nothing queries inside them. As text they spare PostgreSQL a jsonb parse on
-- every write and a jsonb-to-text conversion on every read of the hot path.
ALTER TABLE outbox ALTER COLUMN event TYPE text USING event::text;
ALTER TABLE orders ALTER COLUMN view TYPE text USING view::text;
