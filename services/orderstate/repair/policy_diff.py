"""What a proposed policy decides differently: each order's recent events replayed in turn
under the current policy and under the proposed one, from the same starting state.

Pure. An event whose outcome changes also changes what the order's later events meet (an
accepted ``paid`` is what a later ``in_preparation`` follows), so each order's chain is
replayed whole under each policy, never one event against the recorded state.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from orderstate.domain import OrderView, PolicyBook
from orderstate.events.decode import Decoded
from orderstate.repair.replay import Outcome, Step, replay_order

__all__ = ["CheckResult", "Difference", "OrderWindow", "compare"]


@dataclass(frozen=True, slots=True)
class OrderWindow:
    """One order: its state just before its first event of the window, and those events in
    the order the worker decided them."""

    shop_id: str
    order_id: str
    before: OrderView | None
    events: Sequence[tuple[Decoded, Step]]


@dataclass(frozen=True, slots=True)
class Difference:
    shop_id: str
    order_id: str
    event_id: str
    event_type: str
    current: Outcome
    proposed: Outcome


@dataclass
class CheckResult:
    # Per shop: orders and events replayed.
    orders: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    # Every event decided differently, in the order of the window.
    differences: list[Difference] = field(default_factory=list)

    def counts(self) -> list[tuple[str, str, str, int]]:
        """(shop, current outcome, proposed outcome, events), most frequent first."""
        found = Counter((d.shop_id, d.current.label, d.proposed.label) for d in self.differences)
        return [(s, c, p, n) for (s, c, p), n in sorted(found.items(), key=lambda i: (-i[1], i[0]))]


def compare(
    windows: Sequence[OrderWindow], current: PolicyBook, proposed: PolicyBook
) -> CheckResult:
    result = CheckResult()
    for window in windows:
        steps = [step for _, step in window.events]
        now, _ = replay_order(window.before, steps, current.for_shop(window.shop_id))
        then, _ = replay_order(window.before, steps, proposed.for_shop(window.shop_id))
        result.orders[window.shop_id] += 1
        result.events[window.shop_id] += len(steps)
        for (decoded, _), a, b in zip(window.events, now, then, strict=True):
            if a.kind != b.kind or a.reason != b.reason:
                result.differences.append(
                    Difference(
                        window.shop_id,
                        window.order_id,
                        decoded.event.id,
                        decoded.event.type,
                        a,
                        b,
                    )
                )
    return result
