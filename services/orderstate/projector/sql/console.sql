-- Named queries of the web console (orderstate.console) that no REST read has: the figures of
-- its dashboard and the rejected changes of one order. Every statement is scoped to the
-- logged-in shop. The console reads orders, alerts and the event log through the REST API's
-- own read code (orderstate.api), so those numbers are the API's.

-- name: console_changes_per_hour
-- The shop's order events per hour (UTC) recorded after $2: the changes GET /v2/changes lists.
SELECT date_trunc('hour', recorded_at AT TIME ZONE 'UTC') AS hour, count(*) AS n
FROM order_events
WHERE shop_id = $1 AND recorded_at > $2
GROUP BY 1
ORDER BY 1;

-- name: console_rejections_per_reason
-- The shop's rejected changes still kept (ORDERSTATE_REJECTED_EVENTS_RETENTION_DAYS), per
-- reason code.
SELECT reason, count(*) AS n FROM rejected_events WHERE shop_id = $1
GROUP BY reason ORDER BY n DESC, reason;

-- name: console_rejections_of_order
-- One order's rejected changes, oldest first; the original record is not shown (it may hold
-- what the shop sent about its customer).
SELECT reason, message, event_type, source, event_id, rejected_at
FROM rejected_events
WHERE shop_id = $1 AND order_id = $2
ORDER BY rejected_at, id;

-- name: console_open_alerts_per_rule
SELECT rule, count(*) AS n FROM order_alerts WHERE shop_id = $1 AND cleared_at IS NULL
GROUP BY rule ORDER BY rule;

