"""The wire contract: CloudEvents envelope, payload models, type registry, topic table."""
