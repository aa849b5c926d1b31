"""Prometheus metrics of every orderstate process, declared once."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "AUTH_THROTTLED",
    "BATCH_DURATION",
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "EVENTS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_DURATION",
    "IGNORED_FIELDS",
    "INTERNAL_ERRORS",
    "MERGE_MARKERS",
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
AUTH_THROTTLED = Counter(
    "orderstate_api_auth_throttled_total",
    "REST requests answered 429 because their client address or API key id failed to "
    "authenticate too often within a minute.",
    ["scope"],
)
