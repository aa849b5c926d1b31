"""The outbox relay: committed outbox rows to Kafka."""
