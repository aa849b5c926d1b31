"""The order monitor: a faust-streaming app over orderstate's outbound topics that raises and
clears alerts for orders past a deadline of their shop's alert rules (docs/monitor.md)."""

from orderstate.monitor.app import Monitor

__all__ = ["Monitor"]
