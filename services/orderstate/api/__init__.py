"""The REST API, shaped on the Seven Senders Orders API v2."""
