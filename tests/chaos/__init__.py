"""The fault-injection suite: the real processes on a dedicated Kafka broker and PostgreSQL
server, faults injected while they work, and an oracle that checks what they produced.

``make chaos`` runs it at full size and writes bench/chaos-results.md; ``make test`` runs a
short version (tests/chaos/test_chaos_short.py). docs/reliability.md says what it proves.
"""
