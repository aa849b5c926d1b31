"""The moments the repair commands take: ``7d``, ``36h``, ``90m``, ``45s`` or ``2w`` before now,
or an RFC 3339 time with an offset."""

import re
from datetime import datetime, timedelta

__all__ = ["parse_moment"]

_AGO = re.compile(r"^(\d{1,6})([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_moment(text: str, *, now: datetime) -> datetime:
    """A moment from ``text``; ValueError with a message that says what is accepted."""
    value = text.strip()
    ago = _AGO.match(value)
    if ago:
        try:
            return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
        except OverflowError:
            raise ValueError(
                f"{text!r} is before the year 1: give a shorter time before now"
            ) from None
    try:
        moment = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None or "T" not in value.upper():
        raise ValueError(
            f"{text!r} is not a moment: give a time before now (7d, 36h, 90m, 45s, 2w) or an "
            "RFC 3339 time with an offset (2026-11-27T09:30:00Z)"
        )
    return moment
