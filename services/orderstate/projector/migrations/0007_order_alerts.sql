-- Alerts of the order monitor (docs/monitor.md): one row per alert, written by the monitor
-- after the broker acknowledged its alert.raised or alert.cleared event, read by GET
-- /v2/alerts and the order representation. The alert id derives from shop, order, rule and
-- deadline, so writing the same alert again (a restart, a replay) updates its row.
CREATE TABLE order_alerts (
    shop_id         text        NOT NULL,
    alert_id        text        NOT NULL,
    order_id        text        NOT NULL,
    -- state_deadline.<state>, order_delayed, boarding_open or parked_too_long
    rule            text        NOT NULL,
    -- The order's state when the monitor last decided; NULL for parked_too_long.
    state           text,
    order_version   integer,
    since           timestamptz NOT NULL,
    deadline        timestamptz NOT NULL,
    raised_at       timestamptz NOT NULL,
    cleared_at      timestamptz,
    cleared_because text,
    updated_at      timestamptz NOT NULL,
    PRIMARY KEY (shop_id, alert_id)
);
-- The order representation's open alerts, and every alert of one order.
CREATE INDEX order_alerts_order ON order_alerts (shop_id, order_id, raised_at);
-- GET /v2/alerts pages through a shop's alerts newest first.
CREATE INDEX order_alerts_shop_raised ON order_alerts (shop_id, raised_at DESC, alert_id);
-- Open alerts per shop and rule: the Prometheus gauges, filters[status]=open.
CREATE INDEX order_alerts_open ON order_alerts (shop_id, rule) WHERE cleared_at IS NULL;
-- The retention clean-up of cleared alerts.
CREATE INDEX order_alerts_cleared ON order_alerts (cleared_at) WHERE cleared_at IS NOT NULL;
