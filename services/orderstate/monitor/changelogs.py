"""The monitor's faust tables and the topics faust keeps for it, named in one place.

faust declares its topics itself when the app starts (which needs the Kafka ``Create`` ACL):
a changelog topic per table, and the leader election topic
``<app id>-__assignor-__leader``. ``orderstate topics create`` makes them beforehand with the
same settings, so a monitor whose user may not create topics finds them there. This module
imports no faust, so ``topics create`` stays quick.
"""

from datetime import timedelta

__all__ = ["COUNTS_TABLE", "WATCH_TABLE", "changelog_topics", "counts_kept", "leader_topic"]

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


def leader_topic(group: str) -> str:
    """faust's leader election topic: one partition, the leader is whoever is assigned it."""
    return f"{group}-__assignor-__leader"
