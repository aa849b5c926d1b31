"""Prometheus metrics of every orderstate process, declared once."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_DURATION",
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "EVENTS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "IGNORED_FIELDS",
    "INTERNAL_ERRORS",
    "MERGE_MARKERS",
    "MONITOR_ALERTS",
    "MONITOR_BATCH_DURATION",
    "MONITOR_EVENTS",
    "MONITOR_LAG",
    "MONITOR_OPEN_ALERTS",
    "MONITOR_ORDERS_PER_HOUR",
    "MONITOR_REJECTIONS_PER_HOUR",
    "MONITOR_SEQUENCE_GAPS",
    "MONITOR_WATCHED_ORDERS",
    "OUTBOX_BACKLOG",
    "OUTBOX_DEAD_LETTERS",
    "PARKED_EXPIRED",
    "PARTITION_STALLED",
    "RECORDS_MISPLACED",
    "RELAY_PUBLISHED",
    "RELAY_PUBLISH_LATENCY",
    "RETENTION_DELETED",
]

EVENTS = Counter(
    "orderstate_events_total",
    "Inbound events by outcome (applied, late, duplicate, rejected, parked, malformed) and "
    "reason code.",
    ["outcome", "reason"],
)
BATCH_DURATION = Histogram(
    "orderstate_batch_duration_seconds",
    "Time to apply one batch, from decoding to the database commit.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
BATCH_SIZE = Histogram(
    "orderstate_batch_events",
    "Events per applied batch.",
    buckets=(1, 5, 10, 50, 100, 250, 500, 1000, 2500),
)
CONSUMER_LAG = Gauge(
    "orderstate_consumer_lag",
    "Records between the worker's position and the partition's high watermark.",
    ["topic", "partition"],
)
OUTBOX_BACKLOG = Gauge("orderstate_outbox_backlog", "Outbox rows not yet published.")
RELAY_PUBLISHED = Counter(
    "orderstate_relay_published_total", "Outbox rows published and acknowledged.", ["topic_role"]
)
RELAY_PUBLISH_LATENCY = Histogram(
    "orderstate_relay_publish_latency_seconds",
    "From the outbox row's commit to the broker's acknowledgement.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PARKED_EXPIRED = Counter(
    "orderstate_parked_expired_total",
    "Parked shipment events rejected because their order never arrived.",
)
INTERNAL_ERRORS = Counter(
    "orderstate_internal_errors_total",
    "Events rejected with internal_error because processing them raised an unexpected error "
    "(a stored view that no longer validates, a parked event that no longer decodes, a bug); "
    "the log has the exception.",
)
PARTITION_STALLED = Gauge(
    "orderstate_partition_stalled_seconds",
    "Seconds since a batch was last applied on an inbound partition that has records to "
    "apply; 0 when the partition is caught up. Every worker reports every partition of the "
    "group: alert on max by (topic, partition).",
    ["topic", "partition"],
)
RECORDS_MISPLACED = Counter(
    "orderstate_records_misplaced_total",
    "Inbound records found in a partition their key does not map to (a producer with another "
    "partitioner); each was copied to the right partition and applied from there.",
    ["topic"],
)
MERGE_MARKERS = Counter(
    "orderstate_merge_markers_total",
    "Merge markers the worker appended to a silent inbound partition so that its twin's "
    "records could be applied (docs/reliability.md).",
    ["topic"],
)
OUTBOX_DEAD_LETTERS = Gauge(
    "orderstate_outbox_dead_letters",
    "Outbox rows the relay could not publish and set aside; their orders' later events wait "
    "behind them (`orderstate outbox list`).",
)
RETENTION_DELETED = Counter(
    "orderstate_retention_deleted_total",
    "Rows deleted by the retention clean-up, by table.",
    ["table"],
)
HTTP_REQUESTS = Counter(
    "orderstate_http_requests_total",
    "REST requests by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_REQUEST_DURATION = Histogram(
    "orderstate_http_request_duration_seconds",
    "REST request latency, from the first byte in to the last byte out, by route template, "
    "method and status.",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
IGNORED_FIELDS = Counter(
    "orderstate_api_ignored_fields_total",
    "Request body fields the REST API accepted without using them, by route and field: Seven "
    "Senders fields orderstate does not keep by name, any other field as '(unknown)'.",
    ["route", "field"],
)

# The order monitor (orderstate monitor; docs/monitor.md).
MONITOR_EVENTS = Counter(
    "orderstate_monitor_events_total",
    "Records the monitor read: order events applied, duplicates (a sequence it had seen), "
    "rejections counted, malformed records it could not read, and records of partitions it no "
    "longer owns (elsewhere: left to their new owner).",
    ["outcome"],
)
MONITOR_SEQUENCE_GAPS = Counter(
    "orderstate_monitor_sequence_gaps_total",
    "Order events whose sequence skipped numbers: events the monitor never saw (a topic "
    "truncated by retention, or a lost record). The snapshot still brings the order up to date.",
)
MONITOR_ALERTS = Counter(
    "orderstate_monitor_alerts_total",
    "Alert events published, by rule and kind (raised, cleared).",
    ["rule", "kind"],
)
MONITOR_OPEN_ALERTS = Gauge(
    "orderstate_monitor_open_alerts",
    "Open alerts per shop and rule, as GET /v2/alerts shows them (from PostgreSQL; every "
    "monitor reports all shops: use max by (shop_id, rule)).",
    ["shop_id", "rule"],
)
MONITOR_ORDERS_PER_HOUR = Gauge(
    "orderstate_monitor_orders_per_hour",
    "Orders created, shipped and completed per shop and hour of event time (hour: its RFC 3339 "
    "start), the last ORDERSTATE_MONITOR_COUNT_HOURS hours, from the monitor's windowed "
    "table; each monitor reports the partitions it owns: sum by (shop_id, event, hour).",
    ["shop_id", "event", "hour"],
)
MONITOR_REJECTIONS_PER_HOUR = Gauge(
    "orderstate_monitor_rejections_per_hour",
    "Rejected events per shop, reason code and hour of event time, like "
    "orderstate_monitor_orders_per_hour: sum by (shop_id, reason, hour).",
    ["shop_id", "reason", "hour"],
)
MONITOR_LAG = Gauge(
    "orderstate_monitor_lag",
    "Order events between the monitor's last processed record and the partition's end: "
    "alerts are late by that much.",
    ["partition"],
)
MONITOR_WATCHED_ORDERS = Gauge(
    "orderstate_monitor_watched_orders",
    "Orders in the monitor's table on this process (the partitions it owns).",
)
MONITOR_BATCH_DURATION = Histogram(
    "orderstate_monitor_batch_duration_seconds",
    "Time to process one batch of the monitor, from the first record to the acknowledged "
    "alert events, changelog records and PostgreSQL rows.",
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
