-- The stored order view no longer holds its history entries, only a summary of them
-- (projector/stored_views.py): the entries are in order_state_history already, and carrying
-- them in the view made every event cost O(history) to parse and write. The rules' one
-- question about single entries, "is this state at this moment recorded?", is asked of the
-- table through this index. Views in the old form are read as they are and rewritten in the
-- new one at their order's next change; nothing is backfilled here.
CREATE INDEX order_state_history_moment
    ON order_state_history (shop_id, order_id, state, occurred_at);

-- The UTC offset each occurred_at was given with, in seconds: the view kept it in its JSON, a
-- timestamptz does not, and states_history shows a shop's times as the shop sent them. NULL
-- (rows written by an older release) shows UTC. Backfilled from the views that still carry
-- their entries, which is every view at this point.
ALTER TABLE order_state_history ADD COLUMN occurred_offset_s integer;
UPDATE order_state_history h
SET occurred_offset_s = e.offset_s
FROM (
    SELECT o.shop_id, o.order_id, x.seq::integer AS seq,
           extract(epoch FROM (x.entry->>'occurred_at')::timestamp
                              - ((x.entry->>'occurred_at')::timestamptz AT TIME ZONE 'UTC'))::integer
               AS offset_s
    FROM orders o,
         jsonb_array_elements(o.view::jsonb->'history') WITH ORDINALITY AS x(entry, seq)
    WHERE jsonb_typeof(o.view::jsonb->'history') = 'array'
) e
WHERE h.shop_id = e.shop_id AND h.order_id = e.order_id AND h.seq = e.seq;
