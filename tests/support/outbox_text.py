"""The outbox as tests read it: every row with its text. An order event's row stored by
reference (migration 0012, projector/write_forms.py) has none of its own; the relay reads its
order event log row's, and so does this. Use it in place of ``outbox`` in a FROM clause."""

OUTBOX = (
    "(SELECT o.id, o.topic_role, o.lane, o.shop_id, o.order_id, o.event_id,"
    " coalesce(o.event, l.event) AS event, o.sequence, o.created_at, o.sent_at, o.dead_at,"
    " o.dead_reason"
    " FROM outbox o LEFT JOIN order_events l"
    " ON o.event IS NULL AND l.shop_id = o.shop_id AND l.order_id = o.order_id"
    " AND l.sequence = o.sequence) AS outbox"
)
