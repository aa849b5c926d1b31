"""The monitor's faust tables and their changelog topics, named in one place.

faust declares a table's changelog topic itself when the app starts (which needs the Kafka
``Create`` ACL); ``orderstate topics create`` makes them beforehand with the same settings, so
a monitor whose user may not create topics finds them there. This module imports no faust,
so ``topics create`` stays quick.
"""

from datetime import timedelta

__all__ = ["COUNTS_KEPT", "COUNTS_TABLE", "WATCH_TABLE", "changelog_topics"]

WATCH_TABLE = "monitor-orders"
COUNTS_TABLE = "monitor-counts"
# The hourly counts keep the hour in progress, the one before, and two more for late events.
COUNTS_KEPT = timedelta(hours=4)


def changelog_topics(group: str) -> dict[str, dict[str, str]]:
    """Name and topic configuration of each changelog topic, as faust makes them
    (``<app id>-<table>-changelog``; a windowed table's expires after its window is kept)."""
    return {
        f"{group}-{WATCH_TABLE}-changelog": {"cleanup.policy": "compact"},
        f"{group}-{COUNTS_TABLE}-changelog": {
            "cleanup.policy": "compact,delete",
            "retention.ms": str(int(COUNTS_KEPT.total_seconds() * 1000)),
        },
    }
