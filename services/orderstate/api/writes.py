"""Every REST write becomes an inbound CloudEvent and goes through ``apply_batch``.

That is what makes REST and Kafka answer alike: the same payload models
validate the data, the same ``decide`` judges it, the same reason codes come
back, and the accepted event is appended to the inbound topic (source
``orderstate/api``) already recorded as processed.
"""

import uuid
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orderstate.api.problems import ProblemError
from orderstate.domain import PolicyBook, ReasonCode
from orderstate.events.decode import decode_event
from orderstate.events.envelope import CloudEvent, describe_validation_error
from orderstate.events.errors import DecodeError
from orderstate.events.registry import INBOUND_TYPES
from orderstate.projector.apply import Outcome, OutcomeKind, apply_batch
from orderstate.projector.connection import Conn
from orderstate.projector.inputs import Incoming

__all__ = ["API_SOURCE", "submit"]

API_SOURCE = "orderstate/api"


async def submit(
    conn: Conn,
    *,
    shop_id: str,
    order_id: str,
    type_name: str,
    data: dict[str, Any],
    policies: PolicyBook,
    now: datetime,
    max_event_bytes: int,
) -> Outcome:
    """Apply one change; raise a problem for a rejection, return the outcome otherwise."""
    try:
        event = CloudEvent(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=API_SOURCE,
            type=type_name,
            time=now,
            shopid=shop_id,
            orderid=order_id,
            data=data,
        )
        decoded = decode_event(event, INBOUND_TYPES[type_name].topic)
    except ValidationError as exc:
        raise ProblemError(ReasonCode.MALFORMED, describe_validation_error(exc)) from None
    except DecodeError as exc:
        raise ProblemError(ReasonCode.MALFORMED, exc.message) from None
    incoming = Incoming(
        decoded=decoded, topic_role=INBOUND_TYPES[type_name].topic, append_to_log=True
    )
    result = await apply_batch(
        conn, [incoming], policies=policies, now=now, max_event_bytes=max_event_bytes
    )
    outcome = result.outcomes[0]
    if outcome.kind is OutcomeKind.REJECTED:
        assert outcome.reason is not None and outcome.message is not None  # noqa: S101
        raise ProblemError(outcome.reason, outcome.message)
    return outcome
