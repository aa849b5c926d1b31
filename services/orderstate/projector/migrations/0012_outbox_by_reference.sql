-- An order event's outbox row may name its row in the order event log (migration 0008)
-- instead of holding a copy of its text: the relay reads the text from order_events. The copy
-- was written to the WAL twice, once by the insert and once more by the relay's update that
-- marks the row sent (it rewrites the whole row: sent_at is in the outbox's indexes). By
-- reference, an event costs 2,383 bytes of WAL instead of 5,050 between the worker and the
-- broker (bench/results-outbox-wal.md). Rejections and the REST API's inbound log rows have
-- no log row: they keep their text.
--
-- Releases before this migration read the text only, and during an upgrade their relays run
-- beside this release's workers. So a database that already has orders keeps writing the
-- text until `orderstate migrate --outbox-by-reference` says every relay runs a release from
-- this migration on; a new, empty database starts by reference. Before a rollback past this
-- migration, `orderstate migrate --outbox-with-text` writes the text back into the rows not
-- yet sent (README, "Upgrades, rollouts and rolling back").
ALTER TABLE outbox ALTER COLUMN event DROP NOT NULL;
ALTER TABLE outbox ADD COLUMN sequence bigint;
ALTER TABLE outbox ADD CONSTRAINT outbox_text_or_log_row
    CHECK (event IS NOT NULL OR (topic_role = 'order_events_out' AND sequence IS NOT NULL));

CREATE TABLE outbox_form (
    only_row     boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    by_reference boolean NOT NULL
);
INSERT INTO outbox_form (by_reference) SELECT NOT EXISTS (SELECT 1 FROM orders);
