"""Every REST write becomes an inbound CloudEvent and goes through ``apply_batch``.

That is what makes REST and Kafka answer alike: the same payload models
validate the data, the same ``decide`` judges it, the same reason codes come
back, and the event is appended to the inbound topic (source ``orderstate/api``),
already recorded as processed with its outcome, rejections included, so a replay of
the topics decides it again.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from orderstate.api.problems import ProblemError
from orderstate.domain import PolicyBook, ReasonCode
from orderstate.events.decode import decode_event
from orderstate.events.envelope import API_SOURCE, CloudEvent, describe_validation_error
from orderstate.events.errors import DecodeError
from orderstate.events.registry import INBOUND_TYPES
from orderstate.projector.apply import Outcome, OutcomeKind, apply_batch
from orderstate.projector.connection import Conn
from orderstate.projector.inputs import Incoming
from orderstate.projector.stored_views import with_histories

__all__ = ["API_SOURCE", "Write", "apply_writes", "rejection_problem", "submit"]


@dataclass(frozen=True, slots=True)
class Write:
    """One change a request makes: an inbound event type and its data, for one order."""

    order_id: str
    type_name: str
    data: dict[str, Any]


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
    writes = [Write(order_id, type_name, data)]
    outcomes = await apply_writes(
        conn,
        shop_id=shop_id,
        writes=writes,
        policies=policies,
        now=now,
        max_event_bytes=max_event_bytes,
    )
    problem = rejection_problem(writes, outcomes)
    if problem is not None:
        raise problem
    return outcomes[0]


async def apply_writes(
    conn: Conn,
    *,
    shop_id: str,
    writes: Sequence[Write],
    policies: PolicyBook,
    now: datetime,
    max_event_bytes: int,
) -> list[Outcome]:
    """Apply the changes of one request in one ``apply_batch``, decided in the given order
    exactly as if they had arrived on Kafka in that order (each is logged to its inbound
    topic). A change decided before a rejected one stays applied, as it would from Kafka."""
    incoming = [_incoming(shop_id, write, now) for write in writes]
    result = await apply_batch(
        conn, incoming, policies=policies, now=now, max_event_bytes=max_event_bytes
    )
    # An answer shows the order's whole states_history; the write path's views hold only the
    # entries the batch recorded.
    views = [o.view for o in result.outcomes if o.view is not None]
    whole = iter(await with_histories(conn, views))
    return [o if o.view is None else o._replace(view=next(whole)) for o in result.outcomes]


def rejection_problem(writes: Sequence[Write], outcomes: Sequence[Outcome]) -> ProblemError | None:
    """The problem answering the first rejected change; its detail names what else the
    request's other changes did."""
    for index, outcome in enumerate(outcomes):
        if outcome.kind is OutcomeKind.REJECTED:
            assert outcome.reason is not None and outcome.message is not None  # noqa: S101
            others = [
                f"{writes[i].type_name} was {o.kind.value}"
                for i, o in enumerate(outcomes)
                if i != index
            ]
            detail = outcome.message
            if others:
                detail += f" (the other change of this request: {'; '.join(others)})"
            return ProblemError(outcome.reason, detail)
    return None


def _incoming(shop_id: str, write: Write, now: datetime) -> Incoming:
    role = INBOUND_TYPES[write.type_name].topic
    try:
        event = CloudEvent(
            specversion="1.0",
            id=str(uuid.uuid4()),
            source=API_SOURCE,
            type=write.type_name,
            time=now,
            shopid=shop_id,
            orderid=write.order_id,
            data=write.data,
        )
        decoded = decode_event(event, role)
    except ValidationError as exc:
        raise ProblemError(ReasonCode.MALFORMED, describe_validation_error(exc)) from None
    except DecodeError as exc:
        raise ProblemError(ReasonCode.MALFORMED, exc.message) from None
    return Incoming(decoded=decoded, topic_role=role, append_to_log=True)
