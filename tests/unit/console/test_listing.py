"""The orders list's form, read into the REST API's filters (orderstate.console.listing)."""

from datetime import UTC, datetime

from orderstate.api.reads import SortField
from orderstate.console.listing import PAGE_SIZE, ListForm, read_form
from orderstate.domain import OrderState


def _form(**given: str | list[str]) -> ListForm:
    fields: dict[str, str | list[str]] = {
        "states": [],
        "tag": "",
        "order_date_from": "",
        "order_date_to": "",
        "updated_from": "",
        "updated_to": "",
        "boarding": "",
        "alerts": "",
        "order_by": "",
        "page": "1",
    }
    fields.update(given)
    return read_form(max_offset=10_000, **fields)  # type: ignore[arg-type]


def test_a_filled_form_is_the_apis_filters() -> None:
    form = _form(
        states=["paid", "shipped", "paid"],
        tag="channel: web ",
        order_date_from="2026-11-20",
        order_date_to="2026-11-27",
        boarding="no",
        order_by="state",
        page="3",
    )
    filters = form.filters()
    assert filters.states == [OrderState.PAID, OrderState.SHIPPED]
    assert filters.tags == {"channel": "web"}
    # Whole days in UTC, both ends included.
    assert filters.order_date_from == datetime(2026, 11, 20, tzinfo=UTC)
    assert filters.order_date_to == datetime(2026, 11, 27, 23, 59, 59, 999999, tzinfo=UTC)
    assert filters.boarding_complete is False
    assert (form.sort, form.descending, form.offset) == (SortField.STATE, False, 2 * PAGE_SIZE)
    assert form.problems == []


def test_what_cannot_be_read_is_named_and_left_out() -> None:
    form = _form(states=["paid", "lost"], tag="no-colon", updated_from="27.11.2026")
    assert form.problems == [
        "'lost' is not a state",
        "tag 'no-colon': write it as key:value, e.g. channel:web",
        "updated from '27.11.2026' is not a date (YYYY-MM-DD)",
    ]
    filters = form.filters()
    assert (filters.states, filters.tags, filters.updated_at_from) == ([OrderState.PAID], {}, None)


def test_only_the_forms_day_format_is_a_day() -> None:
    # ISO weeks and the basic form were read (2026-W01 as 2025-12-29) into a filter the date
    # field could not show: the list was filtered while the form looked empty.
    form = _form(order_date_to="2026-W01", updated_from="20261127")
    assert form.problems == [
        "order date to '2026-W01' is not a date (YYYY-MM-DD)",
        "updated from '20261127' is not a date (YYYY-MM-DD)",
    ]
    filters = form.filters()
    assert (filters.order_date_to, filters.updated_at_from) == (None, None)


def test_unknown_sorts_and_pages_fall_back_and_deep_pages_stop_at_the_apis_limit() -> None:
    assert _form(order_by="; DROP TABLE orders").order_by == "-updated_at"
    assert _form(page="0").page == 1
    assert _form(page="x").page == 1
    assert _form(page="9" * 9).page == 1
    # A digit to str.isdigit(), not to int(): the page was a 500.
    assert _form(page="²").page == 1
    assert _form(page="100000").offset <= 10_000


def test_the_query_of_another_page_keeps_the_filters() -> None:
    form = _form(states=["paid"], tag="channel:web", alerts="open", order_by="state")
    assert form.query(2) == "state=paid&tag=channel%3Aweb&alerts=open&order_by=state&page=2"
    assert _form().query(1) == ""


def test_the_alerts_filter_is_a_filter_of_the_list() -> None:
    # It was a list of the first 5,000 alerted order ids, taken before any other filter: the
    # orders past them never showed, and narrowing the other filters could not bring them.
    assert _form(alerts="open").filters().with_open_alerts is True
    assert _form(alerts="open").filters().order_ids == []
    assert _form().filters().with_open_alerts is False
    assert _form(alerts="yes please").alerts == ""
