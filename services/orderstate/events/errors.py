"""The one error decoding raises: malformed input, with a message that says exactly what."""

from orderstate.domain import ReasonCode

__all__ = ["DecodeError"]


class DecodeError(ValueError):
    """Input that cannot become a change. ``reason`` is always ``malformed``."""

    reason = ReasonCode.MALFORMED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
