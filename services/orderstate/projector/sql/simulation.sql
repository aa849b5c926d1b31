-- Named queries of `orderstate simulate` (orderstate.simulation.run): how far orderstate got
-- with the simulated traffic, and what became of it.

-- name: sim_unsent_outbox_rows
SELECT count(*) FROM outbox WHERE sent_at IS NULL;

-- name: sim_stored_offsets
-- The worker's next offset per inbound partition.
SELECT topic, partition, next_offset FROM consumer_offsets WHERE consumer_group = $1;

-- name: sim_orders_per_state
-- Orders of one simulation run ($1: its order-id prefix pattern) per state.
SELECT state, count(*) AS n FROM orders WHERE order_id LIKE $1 AND NOT deleted
GROUP BY state ORDER BY n DESC;

-- name: sim_rejections_per_reason
SELECT reason, count(*) AS n FROM rejected_events WHERE order_id LIKE $1
GROUP BY reason ORDER BY n DESC;

-- name: sim_alerts_per_rule
-- The order monitor's alerts of one simulation run per rule, open and cleared.
SELECT rule, count(*) FILTER (WHERE cleared_at IS NULL) AS open,
       count(*) FILTER (WHERE cleared_at IS NOT NULL) AS cleared
FROM order_alerts WHERE order_id LIKE $1 GROUP BY rule ORDER BY rule;

-- name: sim_open_alert_examples
-- One open alert of the run per rule, the earliest deadline first.
SELECT DISTINCT ON (rule) order_id, rule, deadline FROM order_alerts
WHERE order_id LIKE $1 AND cleared_at IS NULL ORDER BY rule, deadline, order_id;
