"""structlog set-up: context variables first, console in development, JSON otherwise.

Log lines carry shop_id, order_id and event_id through context variables bound
at the consumer and request boundary. Nothing logs order content: orderstate
stores no customer data, and logs never carry more than ids, counts and codes.
Libraries that log through the standard library (aiokafka, asyncpg, uvicorn)
are rendered by the same processors, so a JSON log stays JSON throughout.
"""

import logging
import sys
from collections.abc import Sequence
from typing import Any

import structlog

__all__ = ["configure_logging"]


def configure_logging(
    *, level: str, fmt: str, environment: str, secrets: Sequence[str] = ()
) -> None:
    """``secrets``: values no rendered line may contain (a library's error message may quote
    a URL or a configuration); they are replaced after rendering, in the order given
    (``settings_errors.redactable`` orders them)."""
    use_console = fmt == "console" or (
        fmt == "auto" and environment == "dev" and sys.stderr.isatty()
    )
    renderer: structlog.typing.Processor = (
        structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    )
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    redacted = _redacting(secrets)
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
            *redacted,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                renderer,
                *redacted,
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Libraries are quieter than orderstate: their INFO lines are noise in production.
    root.setLevel(max(logging.getLevelNamesMapping()[level], logging.WARNING))


def _redacting(secrets: Sequence[str]) -> list[structlog.typing.Processor]:
    if not secrets:
        return []

    def scrub(_logger: Any, _name: str, line: Any) -> Any:
        if not isinstance(line, str):
            return line
        for secret in secrets:
            line = line.replace(secret, "[redacted]")
        return line

    return [scrub]
