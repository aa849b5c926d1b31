"""`make bench` counts how often the worker's hot paths run per record (bench/call_counts.py),
so that results.md can say what each path and each alternative costs per record, not only
per call."""

import importlib
import pickle
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

# bench/ runs as a directory of scripts, whose modules import each other by their bare names.
sys.path.insert(0, str(Path(__file__).parents[2] / "bench"))

import call_counts
import hotpaths
from orderstate.domain import Accepted, OrderView, PolicyBook
from orderstate.events.decode import DEFAULT_LIMITS
from orderstate.simulation.generator import Kind, SimConfig, generate
from orderstate.worker import records
from pipeline import RELAY, WORKER, StatementProfile, Throughput
from report import _hotpaths_section

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


class _Record:
    """What read_record reads of an aiokafka record."""

    def __init__(self, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        self.key, self.value, self.headers = key, value, headers
        self.timestamp = 1_700_000_000_000


def _looked_up(key: str) -> Any:
    """The function of call_counts.PATHS[key] as the worker's code finds it: by its name in
    the calling module's namespace, at the moment of the call."""
    module, name = call_counts.PATHS[key]
    return vars(importlib.import_module(module))[name]


def _created_order() -> tuple[records.Read, OrderView]:
    first = next(r for r in generate(SimConfig(orders=5, seed=3)) if r.kind is Kind.VALID)
    record = _Record(first.key, first.value, first.headers)
    read = records.read_record(record, first.role, DEFAULT_LIMITS)
    assert read.decoded is not None
    decision = _looked_up("decide")(None, read.decoded.change, PolicyBook().for_shop("any"), NOW)
    assert isinstance(decision, Accepted)
    return read, decision.new_view


def test_the_worker_s_own_calls_are_counted_inside_the_block_only() -> None:
    calls: Counter[str] = Counter()
    originals = {key: _looked_up(key) for key in call_counts.PATHS}
    evolve = OrderView.evolve

    with call_counts.counted(calls):
        _, view = _created_order()
        text = _looked_up("view_dump")(view, with_history=False)
        loaded = _looked_up("view_load")(text)
        loaded.evolve(version=loaded.version + 1)
        loaded.evolve(version=loaded.version + 2)

    assert calls["decode_record"] == 1
    assert calls["decide"] == 1
    assert calls["view_dump"] == 1
    assert calls["view_load"] == 1
    assert calls["view_evolve"] >= 2  # decide may evolve the new view too
    counted = dict(calls)

    # Afterwards every function is the original again, and nothing more is counted.
    assert {key: _looked_up(key) for key in call_counts.PATHS} == originals
    assert OrderView.evolve is evolve
    _created_order()
    view.evolve(version=9)
    assert dict(calls) == counted


def test_the_wrappers_are_removed_when_the_block_fails() -> None:
    originals = {key: _looked_up(key) for key in call_counts.PATHS}
    evolve = OrderView.evolve
    with pytest.raises(RuntimeError), call_counts.counted(Counter()):
        raise RuntimeError("the replay failed")
    assert {key: _looked_up(key) for key in call_counts.PATHS} == originals
    assert OrderView.evolve is evolve


def _rows() -> list[hotpaths.Row]:
    return [
        hotpaths.Row("decode", 20.0, counted="decode_record"),
        hotpaths.Row("dump", 10.0, "Structs", 1.0, counted="view_dump", structs=True),
        # The same path against another alternative: counted once in the saving.
        hotpaths.Row("dump again", 10.0, "enc_hook", 8.0, counted="view_dump"),
        hotpaths.Row("load", 8.0, "Structs", 2.0, counted="view_load", structs=True),
        hotpaths.Row("snapshot", 7.0, "Structs", 2.0, counted="snapshot_text", structs=True),
        hotpaths.Row("not counted", 3.0, "other", 1.0),
    ]


def test_per_record_costs_are_the_per_call_costs_times_the_calls_per_record() -> None:
    calls = Counter(decode_record=1_000, view_dump=200, view_load=250, snapshot_text=700)

    text = hotpaths.table(_rows(), calls, 1_000)

    assert "| decode | 20.0 |  |  | 1.00 | 20.0 |  |" in text
    assert "| dump | 10.0 | Structs | 1.0 | 0.20 | 2.0 / 0.2 |  |" in text
    assert "| load | 8.0 | Structs | 2.0 | 0.25 | 2.0 / 0.5 |  |" in text
    assert "| snapshot | 7.0 | Structs | 2.0 | 0.70 | 4.9 / 1.4 |  |" in text
    assert "| not counted | 3.0 | other | 1.0 |  |  |  |" in text
    # dump 2.0 + load 2.0 + snapshot 4.9 now; 0.2 + 0.5 + 1.4 with Structs.
    now, structs = hotpaths.struct_saving(_rows(), calls, 1_000) or (0.0, 0.0)
    assert now == pytest.approx(8.9)
    assert structs == pytest.approx(2.1)


def test_without_counts_the_table_keeps_its_per_call_columns() -> None:
    text = hotpaths.table(_rows())

    assert text.splitlines()[0] == "| path | µs per call now | alternative | µs per call | note |"
    assert "| dump | 10.0 | Structs | 1.0 |  |" in text
    assert hotpaths.struct_saving(_rows(), None, 0) is None


def test_figures_pickled_before_the_counts_still_render() -> None:
    profile = StatementProfile(1_000, 2, 2.0, 0.2, 1.5, 0.02, 0.1, [])
    row = hotpaths.Row("dump", 10.0, "Structs", 1.0)
    # As pickled before: the new attributes were not there.
    del profile.__dict__["calls"]
    object.__delattr__(row, "counted")
    object.__delattr__(row, "structs")

    restored_profile = pickle.loads(pickle.dumps(profile))  # noqa: S301 -- made here
    restored_row = pickle.loads(pickle.dumps(row))  # noqa: S301 -- made here

    assert restored_profile.calls == Counter()
    assert (restored_row.counted, restored_row.structs) == ("", False)
    assert "| dump | 10.0 | Structs | 1.0 |  |" in hotpaths.table([restored_row])


def test_results_md_weighs_the_structs_saving_against_the_worker_s_cpu_per_record() -> None:
    profile = StatementProfile(
        1_000,
        2,
        2.0,
        0.2,
        1.5,
        0.02,
        0.1,
        [],
        Counter(decode_record=1_000, view_dump=200, view_load=250, snapshot_text=700),
    )
    # 13.0 s of worker CPU, 1.0 s of it start-up, over 100,000 records: 120 µs per record.
    tp = Throughput(
        records=100_000,
        started_to_offsets_s=9.0,
        started_to_drained_s=10.0,
        first_commit_s=0.5,
        cpu={WORKER: 1.3, RELAY: 0.2},
        worker_hwm_kb=None,
        relay_hwm_kb=None,
        outbox_rows=90_000,
        relay_transactions=300,
        start_up_cpu_s={WORKER: 1.0, RELAY: 0.2},
    )

    text = "\n".join(_hotpaths_section(_rows(), profile, tp))

    assert "applied 1,000 of the backlog's records" in text
    assert "| dump | 10.0 | Structs | 1.0 | 0.20 | 2.0 / 0.2 |  |" in text
    # (8.9 - 2.1) / 120 = 5.7 %.
    assert (
        "cost 8.9 µs per record here, and 2.1 µs with Structs: 6.8 µs less, 6 % of the "
        "worker's 120.0 µs per record less start-up in (d)." in text
    )
    # Without the replay's counts: the per-call table alone, and no sentence.
    alone = "\n".join(_hotpaths_section(_rows(), None, tp))
    assert "| path | µs per call now | alternative | µs per call | note |" in alone
    assert "with Structs" not in alone
