"""The projector worker: inbound Kafka records, merged per partition pair, into apply_batch."""
