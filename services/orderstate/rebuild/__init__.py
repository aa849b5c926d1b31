"""Rebuilding the projection by replaying the inbound topics (``orderstate rebuild``), and
comparing two projections order by order (``orderstate verify``): README, "Time and
history", and docs/rebuild.md."""
