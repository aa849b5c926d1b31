"""The monitor's faust tables and their changelog topics, named in one place.

faust declares a table's changelog topic itself when the app starts (which needs the Kafka
``Create`` ACL); ``orderstate topics create`` makes them beforehand with the same settings, so
a monitor whose user may not create topics finds them there. This module imports no faust,
so ``topics create`` stays quick.
"""

from datetime import timedelta

__all__ = ["COUNTS_TABLE", "WATCH_TABLE", "changelog_topics", "counts_kept"]

WATCH_TABLE = "monitor-orders"
COUNTS_TABLE = "monitor-counts"


def counts_kept(hours: int) -> timedelta:
    """How long the hourly counts' windows live: the hours shown, and one for late events."""
    return timedelta(hours=hours + 1)


def changelog_topics(group: str, count_hours: int) -> dict[str, dict[str, str]]:
    """Name and topic configuration of each changelog topic, as faust makes them
    (``<app id>-<table>-changelog``; a windowed table's expires after its window is kept)."""
    return {
        f"{group}-{WATCH_TABLE}-changelog": {"cleanup.policy": "compact"},
        f"{group}-{COUNTS_TABLE}-changelog": {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int(counts_kept(count_hours).total_seconds() * 1000)),
        },
    }
