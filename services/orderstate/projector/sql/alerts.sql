-- Named queries of the order monitor's alerts: the monitor's writes and reads
-- (orderstate.monitor.store), and the open alerts of the orders a REST response shows
-- (orderstate.api.alert_reads). Alerts are written a batch at a time, from arrays, after the
-- broker acknowledged their events. The list request GET /v2/alerts is not here: its WHERE
-- clause is composed from fixed fragments in orderstate.api.alert_reads.

-- name: upsert_alerts
-- One row per alert event. A raise of an alert that was cleared reopens it; a raise of an
-- open one (a restart, a replay) keeps its first raised_at; a clear keeps the first
-- cleared_at. Rows of one statement never repeat an alert id (the caller keeps the last).
INSERT INTO order_alerts (shop_id, alert_id, order_id, rule, state, order_version, since,
                          deadline, raised_at, cleared_at, cleared_because, updated_at)
SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[],
                     $7::timestamptz[], $8::timestamptz[], $9::timestamptz[],
                     $10::timestamptz[], $11::text[], $12::timestamptz[])
ON CONFLICT (shop_id, alert_id) DO UPDATE SET
    state = EXCLUDED.state,
    order_version = EXCLUDED.order_version,
    raised_at = CASE
        WHEN EXCLUDED.cleared_at IS NULL AND order_alerts.cleared_at IS NOT NULL
        THEN EXCLUDED.raised_at ELSE order_alerts.raised_at END,
    cleared_at = CASE
        WHEN EXCLUDED.cleared_at IS NULL THEN NULL
        ELSE coalesce(order_alerts.cleared_at, EXCLUDED.cleared_at) END,
    cleared_because = CASE
        WHEN EXCLUDED.cleared_at IS NULL THEN NULL
        ELSE coalesce(order_alerts.cleared_because, EXCLUDED.cleared_because) END,
    updated_at = EXCLUDED.updated_at;

-- name: open_alert_counts
-- Open alerts per shop and rule, for the Prometheus gauges (all shops: an operator metric).
SELECT shop_id, rule, count(*) AS open FROM order_alerts WHERE cleared_at IS NULL
GROUP BY shop_id, rule;

-- name: parked_orders
-- Orders that shipments are waiting for: since when the first one waits, and how many.
SELECT shop_id, order_id, min(parked_at) AS since, count(*) AS waiting
FROM parked_events GROUP BY shop_id, order_id;

-- name: open_parked_alerts
-- The parked_too_long alerts that are open now, to compare with what is parked.
SELECT shop_id, alert_id, order_id, since, deadline, raised_at
FROM order_alerts WHERE rule = 'parked_too_long' AND cleared_at IS NULL;

-- name: delete_cleared_alerts
-- Retention: alerts cleared before the cut-off.
DELETE FROM order_alerts WHERE cleared_at < $1;

-- name: open_alerts_of_orders
-- The open alerts of the orders one REST response shows, oldest first, within the shop.
SELECT alert_id, order_id, rule, state, order_version, since, deadline, raised_at, cleared_at,
       cleared_because
FROM order_alerts WHERE shop_id = $1 AND order_id = ANY($2::text[]) AND cleared_at IS NULL
ORDER BY order_id, raised_at, alert_id;

-- name: alerts_open_at
-- The alerts of one order that were raised and not yet cleared at a moment (an as_of read),
-- oldest first; cleared alerts past their retention are gone.
SELECT alert_id, order_id, rule, state, order_version, since, deadline, raised_at, cleared_at,
       cleared_because
FROM order_alerts
WHERE shop_id = $1 AND order_id = $2 AND raised_at <= $3
  AND (cleared_at IS NULL OR cleared_at > $3)
ORDER BY raised_at, alert_id;
