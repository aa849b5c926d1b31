"""The order monitor: a faust-streaming app over orderstate's outbound topics that raises and
clears alerts for orders past a deadline of their shop's alert rules (docs/monitor.md).

The app is ``orderstate.monitor.app.Monitor``; nothing is imported here, so that
``orderstate topics create`` can read ``changelogs`` without loading faust.
"""

__all__: list[str] = []
