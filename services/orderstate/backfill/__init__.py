"""``orderstate backfill``: historical orders from NDJSON, through the inbound orders topic.

- ``lines``: one line (orderstate's or Seven Senders' shape) to its ``order.imported`` event.
- ``scan``: pass one, every line checked and decided; nothing published.
- ``store``: what PostgreSQL says: orders the shop has, imports the worker applied.
- ``publish``: pass two, the planned orders in one Kafka transaction.
- ``report``: progress bars, per-line messages and the summary.
- ``run``: the command, its steps and exit codes.

docs/backfill.md describes the record, the rules and their limits.
"""

from orderstate.backfill.lines import BACKFILL_SOURCE, IMPORTED_TYPE
from orderstate.backfill.run import Options, backfill

__all__ = ["BACKFILL_SOURCE", "IMPORTED_TYPE", "Options", "backfill"]
