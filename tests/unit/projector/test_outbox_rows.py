"""Outbound event ids: the same cause gives the same id, as uuid5 of it would."""

import uuid

from hypothesis import given
from hypothesis import strategies as st

from orderstate.projector.outbox_rows import _NAMESPACE, derived_id

# Text UTF-8 can carry (no lone surrogates): what the decoder lets through.
_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]))


@given(source=_TEXT, event_id=_TEXT, suffix=st.sampled_from(["fact-0", "fact-7", "rejected"]))
def test_derived_id_is_uuid5_of_the_cause(source: str, event_id: str, suffix: str) -> None:
    expected = str(uuid.uuid5(_NAMESPACE, f"{source}\n{event_id}\n{suffix}"))
    assert derived_id(source, event_id, suffix) == expected


def test_derived_id_of_a_known_cause() -> None:
    # Ids already published must not change: consumers deduplicate on them.
    published = "be923904-31ff-580a-935e-e8b3a6031e44"
    assert derived_id("shop.example/orders", "evt-1", "fact-0") == published
