"""The moments `orderstate redrive` and `orderstate policy check` take."""

from datetime import UTC, datetime, timedelta

import pytest

from orderstate.repair.times import parse_moment

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", NOW - timedelta(days=7)),
        ("36h", NOW - timedelta(hours=36)),
        ("90m", NOW - timedelta(minutes=90)),
        ("45s", NOW - timedelta(seconds=45)),
        ("2w", NOW - timedelta(weeks=2)),
        ("2026-11-27T09:30:00Z", datetime(2026, 11, 27, 9, 30, tzinfo=UTC)),
        (
            "2026-11-27T10:30:00+01:00",
            datetime(2026, 11, 27, 9, 30, tzinfo=UTC),
        ),
    ],
)
def test_durations_before_now_and_times_with_an_offset(text: str, expected: datetime) -> None:
    assert parse_moment(text, now=NOW) == expected


@pytest.mark.parametrize(
    "text", ["7", "7y", "-7d", "yesterday", "2026-11-27T09:30:00", "2026-11-27", ""]
)
def test_anything_else_is_refused_saying_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match=r"7d, 36h, 90m, 45s, 2w.*RFC 3339"):
        parse_moment(text, now=NOW)


@pytest.mark.parametrize("text", ["999999d", "999999w"])
def test_a_duration_reaching_before_the_year_1_is_refused_not_a_crash(text: str) -> None:
    # timedelta raised OverflowError, which the commands do not catch: a traceback, exit 1.
    with pytest.raises(ValueError, match="before the year 1"):
        parse_moment(text, now=NOW)
