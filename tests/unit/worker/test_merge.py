"""The pair merge is a pure function of the two partitions' contents, however they arrive."""

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from orderstate.worker.merge import ORDERS, SHIPMENTS, PairMerge

Record = tuple[str, int]  # (name, merge key)


def _reference(orders: list[int], shipments: list[int]) -> list[str]:
    """The merged order computed from the whole logs at once: partition times, then a merge
    by time with the orders partition first on a tie."""

    def timed(side: str, keys: list[int]) -> list[tuple[int, str]]:
        out, time = [], 0
        for n, key in enumerate(keys):
            time = max(time, key)
            out.append((time, f"{side}{n}"))
        return out

    a, b = timed("o", orders), timed("s", shipments)
    merged, i, j = [], 0, 0
    while i < len(a) or j < len(b):
        if j == len(b) or (i < len(a) and a[i][0] <= b[j][0]):
            merged.append(a[i][1])
            i += 1
        else:
            merged.append(b[j][1])
            j += 1
    return merged


def _feed(merge: PairMerge[str], side: int, name: str, key: int) -> None:
    merge.push(side, merge.advance(side, key), name)


def _arrive(orders: list[int], shipments: list[int], seed: int) -> list[str]:
    """Push both logs in a random interleaving and chunking, releasing after every chunk; at
    the end, settle what waits with markers, as the worker does for a silent partition."""
    rng = random.Random(seed)
    merge: PairMerge[str] = PairMerge()
    pending = [
        [(ORDERS, f"o{n}", k) for n, k in enumerate(orders)],
        [(SHIPMENTS, f"s{n}", k) for n, k in enumerate(shipments)],
    ]
    out: list[str] = []
    while pending[0] or pending[1]:
        side = rng.choice([s for s in (0, 1) if pending[s]])
        chunk = rng.randint(1, 4)
        for _ in range(min(chunk, len(pending[side]))):
            _, name, key = pending[side].pop(0)
            _feed(merge, side, name, key)
        out.extend(name for _, name in merge.release())
    for side in (SHIPMENTS, ORDERS, SHIPMENTS):
        needed = merge.marker_needed(side)
        if needed is not None:
            merge.push(side, merge.advance(side, needed), f"marker{side}", real=False)
        out.extend(name for _, name in merge.release())
    return [name for name in out if not name.startswith("marker")]


keys = st.lists(st.integers(min_value=0, max_value=50), max_size=25)


@settings(max_examples=500)
@given(orders=keys, shipments=keys, seed=st.integers(0, 2**16))
def test_any_arrival_order_gives_the_merge_of_the_whole_logs(
    orders: list[int], shipments: list[int], seed: int
) -> None:
    assert _arrive(orders, shipments, seed) == _reference(orders, shipments)


@settings(max_examples=300)
@given(orders=keys, shipments=keys, seed=st.integers(0, 2**16))
def test_what_is_released_before_the_end_is_a_prefix_of_the_merge(
    orders: list[int], shipments: list[int], seed: int
) -> None:
    rng = random.Random(seed)
    merge: PairMerge[str] = PairMerge()
    cut_o, cut_s = rng.randint(0, len(orders)), rng.randint(0, len(shipments))
    for n, key in enumerate(orders[:cut_o]):
        _feed(merge, ORDERS, f"o{n}", key)
    for n, key in enumerate(shipments[:cut_s]):
        _feed(merge, SHIPMENTS, f"s{n}", key)
    released = [name for _, name in merge.release()]
    assert released == _reference(orders, shipments)[: len(released)]


def test_a_record_waits_for_a_silent_twin_and_a_marker_releases_it() -> None:
    merge: PairMerge[str] = PairMerge()
    _feed(merge, ORDERS, "created", 10_000)
    assert merge.release() == []
    assert merge.marker_needed(SHIPMENTS) == 10_000
    merge.push(SHIPMENTS, merge.advance(SHIPMENTS, 10_000), "marker", real=False)
    assert [name for _, name in merge.release()] == ["marker", "created"]
    # A later shipment stamped earlier still sorts after the marker: the log says it came later.
    _feed(merge, SHIPMENTS, "shipment", 5_000)
    _feed(merge, ORDERS, "paid", 20_000)
    assert [name for _, name in merge.release()] == ["shipment"]
    # paid waits: the shipments partition is at 10 s and may still receive records up to 20 s.
    assert merge.marker_needed(SHIPMENTS) == 20_000


def test_times_going_backwards_never_stall_the_pair() -> None:
    # The review's deadlock: created at t+10 s, then paid at t+5 s in the orders partition,
    # shipments at t+6 s and t+7 s, and then nothing more on either partition.
    merge: PairMerge[str] = PairMerge()
    _feed(merge, ORDERS, "created", 10_000)
    _feed(merge, ORDERS, "paid", 5_000)
    _feed(merge, SHIPMENTS, "ship-1", 6_000)
    _feed(merge, SHIPMENTS, "ship-2", 7_000)
    released = [name for _, name in merge.release()]
    assert released == ["ship-1", "ship-2"]
    needed = merge.marker_needed(SHIPMENTS)
    assert needed is not None
    merge.push(SHIPMENTS, merge.advance(SHIPMENTS, needed), "marker", real=False)
    assert [name for _, name in merge.release()] == ["marker", "created", "paid"]


def test_a_marker_never_waits_and_asks_for_no_marker() -> None:
    merge: PairMerge[str] = PairMerge()
    merge.push(ORDERS, merge.advance(ORDERS, 100), "marker", real=False)
    assert [name for _, name in merge.release()] == ["marker"]
    assert merge.marker_needed(SHIPMENTS) is None
    assert merge.time(ORDERS) == 100


def test_a_marker_behind_a_waiting_record_waits_for_it() -> None:
    """Its offset must not be stored before the record ahead of it is applied."""
    merge: PairMerge[str] = PairMerge()
    _feed(merge, SHIPMENTS, "ship", 50)
    merge.push(SHIPMENTS, merge.advance(SHIPMENTS, 70), "marker", real=False)
    assert merge.release() == []
    _feed(merge, ORDERS, "created", 60)
    assert [name for _, name in merge.release()] == ["ship", "marker", "created"]


def test_a_shipment_waits_for_an_orders_time_strictly_after_it() -> None:
    merge: PairMerge[str] = PairMerge(orders_time=100)
    _feed(merge, SHIPMENTS, "ship", 100)
    # An orders record at 100 would sort first (ties go to orders): the shipment must wait.
    assert merge.release() == []
    assert merge.marker_needed(ORDERS) == 101


def test_restored_times_continue_the_same_merge() -> None:
    """A worker that restarts from stored offsets and partition times merges the rest of the
    logs exactly as the uninterrupted worker did."""
    orders = [5, 3, 9, 9, 12, 7, 20]
    shipments = [4, 9, 11, 2, 15]
    whole = _reference(orders, shipments)
    first: PairMerge[str] = PairMerge()
    for n, key in enumerate(orders[:3]):
        _feed(first, ORDERS, f"o{n}", key)
    for n, key in enumerate(shipments[:2]):
        _feed(first, SHIPMENTS, f"s{n}", key)
    done = [name for _, name in first.release()]
    # Restart after the released prefix: offsets and times as stored with the last batch.
    used_o = sum(1 for n in done if n.startswith("o"))
    used_s = sum(1 for n in done if n.startswith("s"))
    time_o = max([0, *orders[:used_o]])
    time_s = max([0, *shipments[:used_s]])
    second: PairMerge[str] = PairMerge(orders_time=time_o, shipments_time=time_s)
    for n, key in list(enumerate(orders))[used_o:]:
        _feed(second, ORDERS, f"o{n}", key)
    for n, key in list(enumerate(shipments))[used_s:]:
        _feed(second, SHIPMENTS, f"s{n}", key)
    rest = [name for _, name in second.release()]
    # The last orders record waits for the silent shipments partition; a marker settles it.
    needed = second.marker_needed(SHIPMENTS)
    assert needed is not None
    second.push(SHIPMENTS, second.advance(SHIPMENTS, needed), "marker", real=False)
    rest += [name for _, name in second.release() if name != "marker"]
    assert done + rest == whole
