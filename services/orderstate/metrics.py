"""Prometheus metrics of every orderstate process, declared once."""

from prometheus_client import Counter, Gauge, Histogram

__all__ = [
    "BATCH_DURATION",
    "BATCH_SIZE",
    "CONSUMER_LAG",
    "EVENTS",
    "IGNORED_FIELDS",
    "OUTBOX_BACKLOG",
    "PARKED_EXPIRED",
    "RELAY_PUBLISHED",
    "RELAY_PUBLISH_LATENCY",
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
IGNORED_FIELDS = Counter(
    "orderstate_api_ignored_fields_total",
    "Request body fields the REST API accepted without using them, by route and field: Seven "
    "Senders fields orderstate does not keep by name, any other field as '(unknown)'.",
    ["route", "field"],
)
