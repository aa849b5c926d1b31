"""The orders list's filter form, read into the REST API's ``OrderFilters``: the list shows
exactly what GET /v2/orders shows for the same filters.

A form is typed by a person: a value that cannot be read is named on the page and left out
of the filters, instead of an error page.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from urllib.parse import urlencode

from orderstate.api import reads
from orderstate.domain import OrderState

__all__ = ["PAGE_SIZE", "SORTS", "ListForm", "read_form"]

PAGE_SIZE = 25
# The sorts offered, as GET /v2/orders spells them in order_by.
SORTS = {
    "-updated_at": "last change, newest first",
    "updated_at": "last change, oldest first",
    "-order_date": "order date, newest first",
    "order_date": "order date, oldest first",
    "state": "state",
}
_DEFAULT_SORT = "-updated_at"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
_PAGE = re.compile(r"\d{1,6}", re.ASCII)


@dataclass
class ListForm:
    """The form as the person filled it in, and what the list makes of it."""

    states: list[str] = field(default_factory=list)
    tag: str = ""
    order_date_from: str = ""
    order_date_to: str = ""
    updated_from: str = ""
    updated_to: str = ""
    boarding: str = ""
    # "open": only orders with an open alert of the order monitor.
    alerts: str = ""
    order_by: str = _DEFAULT_SORT
    page: int = 1
    problems: list[str] = field(default_factory=list)

    def filters(self) -> reads.OrderFilters:
        """The API's filters."""
        tags: dict[str, str] = {}
        if self.tag:
            key, _, value = self.tag.partition(":")
            tags[key.strip()] = value.strip()
        return reads.OrderFilters(
            states=[OrderState(s) for s in self.states],
            order_date_from=self._day(self.order_date_from, start=True),
            order_date_to=self._day(self.order_date_to, start=False),
            updated_at_from=self._day(self.updated_from, start=True),
            updated_at_to=self._day(self.updated_to, start=False),
            boarding_complete={"yes": True, "no": False}.get(self.boarding),
            tags=tags,
            with_open_alerts=self.alerts == "open",
        )

    @property
    def sort(self) -> reads.SortField:
        return reads.SortField(self.order_by.lstrip("-"))

    @property
    def descending(self) -> bool:
        return self.order_by.startswith("-")

    @property
    def offset(self) -> int:
        return (self.page - 1) * PAGE_SIZE

    def query(self, page: int) -> str:
        """This form's query string for another page."""
        pairs = [("state", s) for s in self.states]
        pairs += [
            (name, value)
            for name, value in (
                ("tag", self.tag),
                ("order_date_from", self.order_date_from),
                ("order_date_to", self.order_date_to),
                ("updated_from", self.updated_from),
                ("updated_to", self.updated_to),
                ("boarding", self.boarding),
                ("alerts", self.alerts),
            )
            if value
        ]
        if self.order_by != _DEFAULT_SORT:
            pairs.append(("order_by", self.order_by))
        if page != 1:
            pairs.append(("page", str(page)))
        return urlencode(pairs)

    @staticmethod
    def _day(text: str, *, start: bool) -> datetime | None:
        """A day of the form as an inclusive UTC bound: its first or its last moment."""
        if not text:
            return None
        moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        return moment if start else moment + timedelta(days=1, microseconds=-1)


def read_form(
    *,
    states: list[str],
    tag: str,
    order_date_from: str,
    order_date_to: str,
    updated_from: str,
    updated_to: str,
    boarding: str,
    alerts: str,
    order_by: str,
    page: str,
    max_offset: int,
) -> ListForm:
    form = ListForm(order_by=order_by if order_by in SORTS else _DEFAULT_SORT)
    known = {s.value for s in OrderState}
    form.states = [s for s in dict.fromkeys(states) if s in known]
    form.problems += [f"{s!r} is not a state" for s in states if s not in known]
    tag = tag.strip()
    if tag and (":" not in tag or not tag.partition(":")[0].strip()):
        form.problems.append(f"tag {tag!r}: write it as key:value, e.g. channel:web")
    else:
        form.tag = tag
    days = {
        "order_date_from": order_date_from,
        "order_date_to": order_date_to,
        "updated_from": updated_from,
        "updated_to": updated_to,
    }
    for name, value in days.items():
        text = value.strip()
        if text and not _is_day(text):
            form.problems.append(f"{name.replace('_', ' ')} {text!r} is not a date (YYYY-MM-DD)")
        else:
            setattr(form, name, text)
    form.boarding = boarding if boarding in ("yes", "no") else ""
    form.alerts = "open" if alerts == "open" else ""
    last_page = max_offset // PAGE_SIZE + 1
    # ASCII digits only: str.isdigit() also takes '²', which int() refuses (a 500).
    number = page if _PAGE.fullmatch(page) else "1"
    form.page = min(max(int(number), 1), last_page)
    return form


def _is_day(text: str) -> bool:
    # The form's YYYY-MM-DD only: fromisoformat also reads ISO weeks (2026-W01) and the basic
    # form, which the date input cannot show, so the filter applied while its field looked
    # empty.
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return _DAY.fullmatch(text) is not None
