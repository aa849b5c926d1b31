"""bench/results.md from one run's figures: the summary table first, then how each was made."""

import math
import shlex
from pathlib import Path
from typing import Any

import baselines
import history_scaling
import hotpaths
import infra
import monitor
import pipeline
from figures import number, percentile, verdict

RESULTS = Path(__file__).with_name("results.md")
# Issue 16's targets (the second performance round), all on the same 2-core machine.
TARGET_RATE, TARGET_RATIO, TARGET_DB_RATIO, TARGET_P99_MS = 10_000, 15, 0.5, 50
TARGET_PUBLISHED_P99_MS, TARGET_WORKER_US, TARGET_RELAY_US, TARGET_RSS_MIB = 80, 60, 30, 150


def _mib(kb: int | None) -> str:
    return "n/a" if kb is None else f"{kb / 1024:,.0f} MiB"


def _pct(values: list[float], q: float) -> str:
    return number(percentile(values, q))


def _shares(counts: dict[str, int]) -> str:
    total = sum(counts.values()) or 1
    ordered = sorted(counts.items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in ordered)


def summary(r: dict[str, Any]) -> str:
    args = r["args"]
    tp: pipeline.Throughput = r["throughput"]
    lat, _ = r["latency"][0]
    faust: baselines.FaustResult | None = r.get("faust")
    up: baselines.UpsertResult = r["upsert"]
    p50, p99 = (percentile(lat.committed_ms, q) for q in (50, 99))
    ratio = tp.rate / faust.rate if faust else math.nan
    db_ratio = tp.rate / max(up.insert_rate, up.update_rate)
    worker_us, relay_us = (
        tp.cpu.get(name, math.nan) * tp.started_to_drained_s / tp.records * 1e6
        for name in (pipeline.WORKER, pipeline.RELAY)
    )
    published_p99 = percentile(lat.published_ready_ms, 99)
    rss_kb = tp.worker_hwm_kb  # the target is on the backlog
    rows = [
        (
            "(a)",
            "raw aiokafka consume of the input topics",
            f"{number(r['consume'].rate)} records/s",
            "ceiling",
        ),
        (
            "(a')",
            "same + `decode_record` per record (the worker's fetch task)",
            f"{number(r['decode'].rate)} records/s",
            "ceiling",
        ),
        (
            "(b)",
            f"batched upsert of order views, {up.batch_size} rows per statement and commit",
            f"insert {number(up.insert_rate)} rows/s, update {number(up.update_rate)} rows/s",
            "ceiling",
        ),
    ]
    if faust:
        box = "all input" if faust.finished_input else f"{args.faust_seconds:g} s time box"
        rows.append(
            (
                "(c)",
                f"per-event faust agent, one transaction per event ({box}, "
                f"{faust.events:,} events)",
                f"{number(faust.rate)} events/s",
                "baseline",
            )
        )
    else:
        rows.append(
            (
                "(c)",
                "per-event faust agent",
                f"did not run: {r.get('faust_error', 'skipped')}",
                "baseline",
            )
        )
    rows += [
        (
            "(d)",
            f"**orderstate** worker + relay: {tp.records:,} pre-loaded records to committed views, "
            f"outbox drained, timed from process start{_median_of(r)}",
            f"**{number(tp.rate)} events/s**",
            f"≥ {TARGET_RATE:,}: {verdict(tp.rate >= TARGET_RATE)}",
        ),
        *_backlog_run_rows(r),
        (
            "(d)",
            "same, timed from the first committed batch",
            f"{number(tp.rate_after_first_commit)} events/s",
            "",
        ),
        (
            "(d)/(c)",
            "orderstate ÷ per-event faust agent",
            f"{number(ratio, 1)} times",
            f"≥ {TARGET_RATIO} times: {verdict(ratio >= TARGET_RATIO)}",
        ),
        (
            "(d)/(b)",
            "orderstate ÷ the batched upsert (the faster of its insert and update rates)",
            f"{number(db_ratio, 2)} times",
            f"≥ {TARGET_DB_RATIO} times: {verdict(db_ratio >= TARGET_DB_RATIO)}",
        ),
        (
            "(d)",
            "CPU per input record on the backlog, from process start: worker / relay",
            f"{number(worker_us, 1)} / {number(relay_us, 1)} µs",
            _cpu_verdicts(worker_us, relay_us),
        ),
        *_after_start_up_row(tp),
        (
            "(d)",
            f"latency send → committed view at {number(lat.achieved_rate)} events/s (defaults), "
            "p50 / p99",
            f"{number(p50)} / **{number(p99)} ms**",
            f"p99 ≤ {TARGET_P99_MS} ms: {verdict(p99 <= TARGET_P99_MS)}",
        ),
    ]
    for extra, _ in r["latency"][1:]:
        extra_p99 = percentile(extra.committed_ms, 99)
        rows.append(
            (
                "(d)",
                "same with "
                + ", ".join(
                    f"{k.removeprefix('ORDERSTATE_').lower()}={v}"
                    for k, v in extra.settings.items()
                ),
                f"{_pct(extra.committed_ms, 50)} / **{_pct(extra.committed_ms, 99)} ms**",
                f"p99 ≤ {TARGET_P99_MS} ms: {verdict(extra_p99 <= TARGET_P99_MS)}",
            )
        )
    if "scale2" in r:
        rows.append(
            (
                "(d)",
                "same backlog with two worker processes (and one relay)",
                f"{number(r['scale2'].rate)} events/s",
                "",
            )
        )
    history: history_scaling.HistoryScaling | None = r.get("history")
    if history is not None:
        rows.append(
            (
                "(d)",
                f"apply_batch per event on orders with {history.long_changes} changes ÷ with "
                f"{history.short_changes} (in-process, real PostgreSQL)",
                f"{history.ratio:.2f} times ({history.long_median:,.0f} / "
                f"{history.short_median:,.0f} µs)",
                f"≤ 1.1 times (the same cost): {verdict(history.ratio <= 1.1)}",
            )
        )
    rows += [
        (
            "(d)",
            "latency send → outbound event read back from Kafka (defaults; an event parked "
            "until its order existed, from its order's send), p50 / p99",
            f"{_pct(lat.published_ready_ms, 50)} / {_pct(lat.published_ready_ms, 99)} ms",
            f"p99 ≤ {TARGET_PUBLISHED_P99_MS} ms: "
            f"{verdict(published_p99 <= TARGET_PUBLISHED_P99_MS)}",
        ),
        (
            "(d)",
            "worker peak RSS (VmHWM): backlog / 1,000 events/s run",
            f"{_mib(tp.worker_hwm_kb)} / {_mib(r['worker_hwm_kb'])} "
            f"(relay {_mib(r['relay_hwm_kb'])})",
            f"≤ {TARGET_RSS_MIB} MiB on the backlog: "
            + (verdict(rss_kb / 1024 <= TARGET_RSS_MIB) if rss_kb is not None else "not measured"),
        ),
    ]
    rows += _monitor_rows(r)
    lines = ["| | measure | result | target |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    return "\n".join(lines)


def _median_of(r: dict[str, Any]) -> str:
    runs: list[pipeline.Throughput] = r.get("backlog_runs", [])
    if len(runs) < 2:
        return ""
    return (
        f"; the median of {len(runs)} runs (run {r['backlog_median_run']}), each on a fresh "
        "database and group"
    )


def _cpu_verdicts(worker_us: float | None, relay_us: float | None) -> str:
    def one(us: float | None, target: int) -> str:
        return "n/a" if us is None else verdict(us <= target)

    return (
        f"≤ {TARGET_WORKER_US} / ≤ {TARGET_RELAY_US} µs: worker "
        f"{one(worker_us, TARGET_WORKER_US)}, relay {one(relay_us, TARGET_RELAY_US)}"
    )


def _after_start_up(tp: pipeline.Throughput) -> tuple[float, float] | None:
    """Worker and relay CPU per record less each one's start-up; None for figures pickled
    before the start-up was measured, or when a process never logged its ready line."""
    worker, relay = (
        tp.cpu_us_per_record_after_start_up(name) for name in (pipeline.WORKER, pipeline.RELAY)
    )
    return None if worker is None or relay is None else (worker, relay)


def _after_start_up_row(tp: pipeline.Throughput) -> list[tuple[str, str, str, str]]:
    """The same CPU less each process's start: a cost per process, not per record."""
    figures = _after_start_up(tp)
    if figures is None:
        return []  # only the figure from process start is known
    worker, relay = figures
    start_up = tp.start_up_cpu_s
    return [
        (
            "(d)",
            "same, less what each process used before its log said it was ready (imports, "
            f"connecting, joining the group: {start_up[pipeline.WORKER]:.2f} / "
            f"{start_up[pipeline.RELAY]:.2f} s of CPU)",
            f"{number(worker, 1)} / {number(relay, 1)} µs",
            _cpu_verdicts(worker, relay),
        )
    ]


def _hotpaths_section(
    rows: list[hotpaths.Row], st: pipeline.StatementProfile | None, tp: pipeline.Throughput
) -> list[str]:
    """Each hot path per call and, where the in-process replay counted its calls, per record:
    what an alternative would save depends on how often the path runs."""
    calls = st.calls if st is not None else None
    events = st.events if st is not None else 0
    out = [
        "## (d) hot paths, and cheaper alternatives",
        "",
        "Per-call CPU of the steps the profile points at, timed in-process on 1,000 simulated "
        "orders with the garbage collector off (bench/hotpaths.py), next to the alternative "
        "proposed for each; the alternatives exist only in the bench.",
    ]
    if calls and events:
        out[-1] += (
            f" The calls per record were counted while the in-process replay of the section "
            f"'apply_batch alone' below applied {events:,} of the backlog's records, in the "
            "order they were generated and 500 to a batch (bench/call_counts.py). The worker "
            "reads the two topics merged by time, so its batches hold other mixes; the counts "
            "say how often a path runs per record, the first column what one call costs."
        )
    out += ["", hotpaths.table(rows, calls, events), ""]
    saving = hotpaths.struct_saving(rows, calls, events)
    if saving is not None:
        now, structs = saving
        worker = _after_start_up(tp)
        share = (
            f", {100 * (now - structs) / worker[0]:.0f} % of the worker's {worker[0]:.1f} µs "
            "per record less start-up in (d)"
            if worker is not None
            else ""
        )
        out += [
            "The paths whose alternative is the view as msgspec Structs (its dump, load and "
            f"copy, and the snapshot of each change) cost {now:.1f} µs per record here, and "
            f"{structs:.1f} µs with Structs: {now - structs:.1f} µs less{share}.",
            "",
        ]
    return out


def _after_start_up_pair(t: pipeline.Throughput) -> str:
    figures = _after_start_up(t)
    return "" if figures is None else f" ({number(figures[0])} / {number(figures[1])})"


def _backlog_run_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """Every run of the backlog, in order, where there were several; the rows below the
    headline (CPU, WAL, batches) are the median run's."""
    runs: list[pipeline.Throughput] = r.get("backlog_runs", [])
    if len(runs) < 2:
        return []
    rates = ", ".join(number(t.rate) for t in runs)
    cpu = ", ".join(
        f"{number(t.cpu_us_per_record(pipeline.WORKER))} / "
        f"{number(t.cpu_us_per_record(pipeline.RELAY))}{_after_start_up_pair(t)}"
        for t in runs
    )
    return [
        ("(d)", "each run of the backlog, in order: events/s", rates, ""),
        (
            "(d)",
            "each run of the backlog, in order: CPU µs per record, worker / relay (in "
            "brackets: less each process's start-up)",
            cpu,
            "",
        ),
    ]


def _backlog_runs_paragraph(r: dict[str, Any]) -> list[str]:
    runs: list[pipeline.Throughput] = r.get("backlog_runs", [])
    if len(runs) < 2:
        return []
    return [
        f"The backlog ran {len(runs)} times, each run on a fresh database and consumer group "
        f"(events/s in order: {', '.join(number(t.rate) for t in runs)}). The figures of this "
        f"section and of the headline rows are those of the median run, run "
        f"{r['backlog_median_run']}; the latency runs below restarted the last run's worker.",
        "",
    ]


def _output_rate(r: dict[str, Any]) -> float:
    """What (d) published per second: the rate the monitor must keep up with."""
    tp: pipeline.Throughput = r["throughput"]
    return tp.outbox_rows / tp.started_to_drained_s


def _page(result: monitor.MonitorResult | monitor.CeilingResult) -> int:
    # Figures pickled before the monitor set its own page ran with faust's.
    page: int = getattr(result, "page_bytes", monitor.FAUST_FETCH_BYTES)
    return page


def _page_text(page: int) -> str:
    return f"{page / 1_048_576:g} MiB"


def _ceilings(r: dict[str, Any]) -> list[monitor.CeilingResult]:
    if "monitor_ceilings" in r:
        return list(r["monitor_ceilings"])
    return [r["monitor_ceiling"]] if r.get("monitor_ceiling") is not None else []


def _monitor_rows(r: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    runs: list[monitor.MonitorResult] = r.get("monitor", [])
    if not runs:
        return []
    target = _output_rate(r)
    rows = []
    for run in runs:
        what = "one process" if run.processes == 1 else f"{run.processes} processes, one group"
        ours = _page(run) == monitor.MONITOR_FETCH_BYTES
        if not ours:
            what += f", with faust's default fetch page ({_page_text(_page(run))}) as before"
        rows.append(
            (
                "(e)",
                f"order monitor (faust-streaming), {what}: {run.records:,} order events and "
                "rejections of (d) to alerts, changelogs and order_alerts, timed from start",
                f"{number(run.rate)} events/s",
                f"≥ (d)'s output, {number(target)} events/s: {verdict(run.rate >= target)}"
                if ours
                else "comparison",
            )
        )
    for ceiling in _ceilings(r):
        page = _page(ceiling)
        whose = "the monitor's" if page == monitor.MONITOR_FETCH_BYTES else "faust's default"
        rows.append(
            (
                "(e')",
                "faust-streaming alone on the same records: a noack_take agent that only "
                f"acknowledges, with {whose} fetch page ({_page_text(page)}), from its first batch",
                f"{number(ceiling.rate)} events/s",
                "ceiling" if page == monitor.MONITOR_FETCH_BYTES else "comparison",
            )
        )
    return rows


def _cpu_table(cpu: dict[str, float]) -> list[str]:
    lines = ["| process | cores |", "|---|---|"]
    host = cpu.get(infra.HOST)
    for name, cores in sorted(cpu.items(), key=lambda kv: -kv[1]):
        if name != infra.HOST:
            lines.append(f"| {name} | {cores:.2f} |")
    lines.append(f"| **{infra.HOST}** | **{number(host, 2)}** |")
    return lines


def _two_workers_section(two: pipeline.Throughput | None, tp: pipeline.Throughput) -> list[str]:
    if two is None:
        return []
    per = pipeline.Throughput.cpu_us_per_record
    wal = f" WAL {two.wal_bytes / two.records:,.0f} bytes per record." if two.wal_bytes else ""
    return [
        "## (d) two workers",
        "",
        f"The backlog again on a fresh database and group with two worker processes (the "
        f"consumer group splits the 12 partitions) and one relay: {number(two.rate)} events/s, "
        f"against {number(tp.rate)} with one. CPU in cores:",
        "",
        *_cpu_table(two.cpu),
        "",
        f"CPU per input record, two workers against one: workers "
        f"{per(two, pipeline.WORKER):.0f} against {per(tp, pipeline.WORKER):.0f} µs, "
        f"PostgreSQL {per(two, 'postgres'):.0f} against {per(tp, 'postgres'):.0f} µs, relay "
        f"{per(two, pipeline.RELAY):.0f} against {per(tp, pipeline.RELAY):.0f} µs.{wal}",
        "",
    ]


def _history_section(h: history_scaling.HistoryScaling | None) -> list[str]:
    if h is None:
        return []
    out: list[str] = []
    add = out.append
    add("## (d) cost per event by the length of the order's history")
    add("")
    add(
        f"bench/history_scaling.py: {h.orders:,} orders with {h.short_changes} changes "
        f"(created, four states) and {h.orders:,} with {h.long_changes} (the same, then "
        "states that arrive late: accepted, recorded in the history and published), set up "
        f"in {h.setup_s:.0f} s. Then {h.rounds} rounds, alternating which group goes "
        "first, of one more late state per order, one batch per group, through apply_batch "
        "in the bench process on the bench's PostgreSQL (no Kafka). Wall time of "
        "apply_batch per event:"
    )
    add("")
    add(history_scaling.table(h))
    add("")
    why = (
        ": the view that apply_batch loads, decides on and writes back holds the whole "
        "history, so its JSON is parsed and written again on every event"
        if h.ratio > 1.1
        else ""
    )
    add(
        f"An event on an order with {h.long_changes} changes costs {h.ratio:.2f} times one "
        f"on an order with {h.short_changes}{why}."
    )
    add("")
    return out


def _rate_budgets(
    r: dict[str, Any], per_event: dict[str, float], ours: float, cores: int
) -> list[str]:
    """What each rate target asks of the whole pipeline on these cores: the CPU per record the
    four processes may use together to run at that rate, against what they used."""
    faust: baselines.FaustResult | None = r.get("faust")
    up: baselines.UpsertResult = r["upsert"]
    asked = [("the throughput target", float(TARGET_RATE))]
    if faust:
        asked.append((f"{TARGET_RATIO} times faust", TARGET_RATIO * faust.rate))
    upsert = max(up.insert_rate, up.update_rate)
    asked.append((f"{TARGET_DB_RATIO} times the upsert", TARGET_DB_RATIO * upsert))
    services = per_event.get("postgres (all backends)", 0.0) + per_event.get("kafka broker", 0.0)
    parts = [
        f"{name}, {rate:,.0f} events/s, leaves {cores * 1e6 / rate:,.0f} µs" for name, rate in asked
    ]
    return [
        "The rate targets as budgets of CPU per record for worker, relay, PostgreSQL and "
        f"Kafka together, with {cores} cores fully busy: "
        + "; ".join(parts)
        + f". They used {ours:,.0f} µs, of which PostgreSQL and Kafka alone {services:,.0f} µs. "
        "A budget below that sum cannot be met by sharing the cores better, only by a cheaper "
        "pipeline; a budget below PostgreSQL and Kafka's share not even by a free worker and "
        "relay.",
        "",
    ]


def _between_batches(b: dict[str, Any]) -> list[str]:
    """The line on the loop's time between full batches (runs before it was measured: none)."""
    if b.get("between_full_ms_p50") is None:
        return []
    return [
        "- Between two full batches (from one batch's log line to the next one's, less the "
        "next one's apply: the loop's own time and any wait for the next batch): p50 "
        f"{b['between_full_ms_p50']:.1f} ms, mean {b['between_full_ms_mean']:.1f} ms."
    ]


def render(r: dict[str, Any]) -> str:  # noqa: PLR0915 -- a report, section by section
    args = r["args"]
    tp: pipeline.Throughput = r["throughput"]
    faust: baselines.FaustResult | None = r.get("faust")
    up: baselines.UpsertResult = r["upsert"]
    cores = r["machine"]["cores (nproc)"]
    lines: list[str] = []
    add = lines.append

    add("# orderstate benchmark results")
    add("")
    add(
        f"Run {r['started']:%Y-%m-%d %H:%M} UTC, {r['wall_s'] / 60:.1f} minutes, "
        f"N = {r['n']:,} input records ({args.orders:,} simulated orders). Written by "
        "`make bench` (bench/run.py); bench/README.md says what each figure means and how it "
        "is measured."
    )
    add("")
    add(summary(r))
    add("")

    _machine_section(r, add)
    add("## Commands")
    add("")
    add("```")
    add("make bench    # make install services-up, then:")
    add(" ".join([".venv/bin/python bench/run.py", *(shlex.quote(a) for a in r["argv"])]))
    add("# (d) starts, with ORDERSTATE_* naming a bench-owned database, topics and group:")
    add(".venv/bin/python -m orderstate worker --ops-port 0    # = .venv/bin/orderstate worker")
    add(".venv/bin/python -m orderstate relay --ops-port 0")
    add("# (d) GC experiment, profile: the same main() under bench/observed.py, e.g.")
    add(".venv/bin/python bench/observed.py --gc worker.gc.json \\")
    add("    worker --ops-port 0")
    add("# (d) profile: each process sampled from outside for the time box (bench/stacks.py):")
    add(".venv/bin/py-spy record --pid <pid> --duration 30 --rate 200 --format raw \\")
    add("    --output worker.stacks")
    add("# (c): .venv/bin/python bench/faust_agent.py worker --loglevel warn")
    add("```")
    add("")
    add(
        "orderstate runs with its default settings (batch_max_events 500, batch_max_wait_ms 50, "
        "database_pool_size 10, relay_batch_size 500) except where a row says otherwise; "
        "6 partitions per topic; logs as JSON at INFO."
    )
    add("")

    add("## Input")
    add("")
    add(
        f"`generate(SimConfig(orders={args.orders}, seed=1))` from "
        "orderstate.simulation.generator, published to the two inbound topics before anything "
        f"reads them ({r['publish_s']:.1f} s). Generated kinds: {_shares(r['mix'])}."
    )
    add("")
    outcomes = {k: v for k, v in r["backlog_batches"]["outcomes"].items() if k != "unparked"}
    add(
        f"What the orderstate worker made of the backlog: {_shares(outcomes)}; "
        f"{r['backlog_batches']['outcomes'].get('unparked', 0):,} parked events applied when "
        "their order arrived. Rejections by reason (backlog and latency runs): "
        + ", ".join(
            f"{k} {v:,}"
            for k, v in sorted(r["outcomes_db"]["rejected_events"].items(), key=lambda kv: -kv[1])
        )
        + "."
    )
    paced = {k: v for k, v in r["latency"][0][1]["outcomes"].items() if k != "unparked"}
    add(
        f"The same generator paced at {args.latency_rate:g}/s (first latency run): "
        f"{_shares(paced)}. On the backlog the worker reads both topics as fast as it can, "
        "and the shipments topic runs ahead of the orders topic, so far more shipment events "
        "arrive before their order (parked) and more order states arrive after a shipment "
        "(late) than were generated; paced, the mix matches what was generated."
    )
    add("")

    add("## (d) orderstate on the pre-loaded backlog")
    add("")
    b = r["backlog_batches"]
    lines += _backlog_runs_paragraph(r)
    add(
        f"- Worker and relay started at t = 0; first batch committed at "
        f"{number(tp.first_commit_s, 1)} s; stored offsets at the end offsets at "
        f"{tp.started_to_offsets_s:.1f} s; outbox drained at {tp.started_to_drained_s:.1f} s "
        f"({tp.outbox_rows:,} outbox rows published)."
    )
    if tp.wal_bytes is not None:
        add(
            f"- PostgreSQL wrote {tp.wal_bytes / 2**20:,.0f} MiB of WAL meanwhile: "
            f"{tp.wal_bytes / tp.records:,.0f} bytes per input record."
        )
    add(
        f"- {b['batches']:,} batches, mean {b['mean_size']:.0f} events; apply_batch per batch p50 "
        f"{number(b['apply_ms_p50'])} ms, p99 {number(b['apply_ms_p99'])} ms; "
        f"{b['apply_s']:.1f} s in apply_batch and {b['decode_s']:.1f} s decoding (in the fetch "
        "task, overlapping)."
    )
    lines.extend(_between_batches(b))
    add(
        f"- The relay published them in {tp.relay_transactions:,} rounds "
        f"({tp.outbox_rows / max(tp.relay_transactions, 1):.0f} rows each). A round is one "
        "transaction: it claims the lanes that have rows, sends a share of each lane's oldest "
        "rows and waits for Kafka's acknowledgements before it marks them sent."
    )
    add(
        f"- Peak RSS (VmHWM): worker {_mib(tp.worker_hwm_kb)} after the backlog; the worker "
        f"restarted for the latency runs peaked at {_mib(r['worker_hwm_kb'])}; relay "
        f"{_mib(r['relay_hwm_kb'])}."
    )
    per_event = {
        name: cores_used * tp.started_to_drained_s / tp.records * 1e6
        for name, cores_used in tp.cpu.items()
    }
    add(
        f"- CPU while it ran, in cores of {cores} (user + system, from /proc), and CPU time per "
        "input record:"
    )
    add("")
    add("| process | cores | µs CPU per record |")
    add("|---|---|---|")
    for name, cores_used in sorted(tp.cpu.items(), key=lambda kv: -kv[1]):
        if name != infra.HOST:
            add(f"| {name} | {cores_used:.2f} | {per_event[name]:,.0f} |")
    add(f"| **{infra.HOST}** | **{tp.cpu[infra.HOST]:.2f}** | {per_event[infra.HOST]:,.0f} |")
    add("")
    worker_us = per_event.get(pipeline.WORKER, math.nan)
    ours = sum(
        per_event.get(k, 0.0)
        for k in (pipeline.WORKER, pipeline.RELAY, "postgres (all backends)", "kafka broker")
    )
    add(
        f"What these costs allow: the worker is one Python thread, so at {worker_us:,.0f} µs "
        f"of CPU per record it cannot pass {1e6 / worker_us:,.0f} records/s even with a core "
        f"to itself and no waiting; worker, relay, PostgreSQL and Kafka together use "
        f"{ours:,.0f} µs per record, so {cores} cores fully busy and perfectly shared give at "
        f"most {int(cores) * 1e6 / ours:,.0f} records/s."
    )
    add("")
    lines.extend(_rate_budgets(r, per_event, ours, int(cores)))

    add("## (d) latency")
    add("")
    add(
        "Records from the same generator (new seeds, same mix: "
        + _shares(r["latency_mix"])
        + ") published at a paced rate to fresh inbound topics; after the backlog the worker "
        "was restarted on them (same database, group, relay and outbound topic) and the clock "
        "started once it owned its partitions. The send time is taken when a record is handed "
        "to the producer (acks=all, linger 5 ms, so up to 5 ms of producer batching is "
        "included). "
        "The commit is observed by a poller reading processed_events every 5 ms: rows are "
        "visible only after the worker's commit, so 'committed' is an upper bound, late by at "
        "most one poll gap; processed_at is the batch's `now`, taken before the batch's "
        "transaction starts, so 'batch start' is a lower bound of the commit. Redeliveries of "
        "an id already sent and malformed records write no processed_events row and are not "
        "counted. An event the worker parked (a shipment before its order, which the generator "
        "sends on purpose) can have no outbound event before its order exists: its 'outbound "
        "event read back' is timed from its order's order.created send when that came later; "
        "a row of its own times the parked events from their own send, which measures the gap "
        "in the input, not the service."
    )
    add("")
    add("| run | events | sent/s | to | p50 | p90 | p99 | max |")
    add("|---|---|---|---|---|---|---|---|")
    for lat, batches in r["latency"]:
        label = (
            ", ".join(
                f"{k.removeprefix('ORDERSTATE_').lower()}={v}" for k, v in lat.settings.items()
            )
            or "defaults"
        )
        for to, values in (
            ("batch start (lower bound)", lat.decided_ms),
            ("**committed view (upper bound)**", lat.committed_ms),
            (
                "outbound event read back (a parked event from its order's send)",
                lat.published_ready_ms,
            ),
            (
                "outbound event read back, parked events only, from their own send",
                lat.published_parked_ms,
            ),
        ):
            add(
                f"| {label} | {len(values):,} | {lat.achieved_rate:,.0f} | {to} | "
                + " | ".join(_pct(values, q) for q in (50, 90, 99, 100))
                + " ms |"
            )
        add(
            f"| {label} | {len(lat.relay_ms):,} | | relay: outbox row's batch start to "
            f"Kafka's ack ({lat.relay_transactions:,} relay rounds, "
            f"{len(lat.relay_ms) / max(lat.relay_transactions, 1):.1f} rows each) | "
            + " | ".join(_pct(lat.relay_ms, q) for q in (50, 90, 99, 100))
            + " ms |"
        )
        add(
            f"| {label} | | | worker batches: {batches['batches']:,}, mean "
            f"{batches['mean_size']:.0f} events, apply p50 {number(batches['apply_ms_p50'])} ms, "
            f"p99 {number(batches['apply_ms_p99'])} ms; poll gap p99 {lat.poll_gap_ms:.1f} ms; "
            f"{lat.missing} events never seen | | | | |"
        )
    add("")
    lat0 = r["latency"][0][0]
    add(
        "Committed-view p50 / p99 (ms) per 5 s of sends, default settings: "
        + ", ".join(f"{at:.0f}s {p50:.0f}/{p99:.0f}" for at, p50, p99 in lat0.windows(5.0))
        + ". Steady means no window far from the others; isolated spikes are pauses "
        "(collector, checkpoints, the other processes on the two cores)."
    )
    add("")
    add(f"CPU during the first latency run ({number(lat0.achieved_rate)} events/s), in cores:")
    add("")
    lines.extend(_cpu_table(lat0.cpu))
    add("")

    if "profile" in r:
        _profile_section(r, add)

    if "gc" in r:
        _gc_section(r, add)
    if "event_loop" in r:
        _loop_section(r, add)
    lines.extend(_two_workers_section(r.get("scale2"), tp))
    if "hotpaths" in r:
        lines.extend(_hotpaths_section(r["hotpaths"], r.get("statements"), tp))

    lines.extend(_history_section(r.get("history")))
    add("## (b) batched upsert")
    add("")
    add(
        f"{up.rows:,} real order rows (copied from the (d) database, view JSON included) upserted "
        "with the orders part of orderstate's own `write_batch` statement (INSERT ... SELECT "
        "FROM unnest(...) ON "
        f"CONFLICT DO UPDATE) into an empty migrated database, {up.batch_size} rows per "
        f"statement, each statement its own transaction: the insert pass took "
        f"{up.insert_seconds:.2f} s, then update passes (version + 1) ran for "
        f"{up.update_seconds:.1f} s ({up.update_rows:,} rows)."
    )
    add("")

    add("## (c) per-event faust agent")
    add("")
    if faust:
        add(
            f"bench/faust_agent.py (faust-streaming {r['machine']['faust-streaming']}, one agent, "
            "concurrency 1, one asyncpg transaction per event) on its own migrated database and "
            "consumer group, reading the same pre-loaded topics from the beginning. It began "
            f"reading {faust.startup_s:.1f} s after launch; from its first event it completed "
            f"{faust.events:,} events in {faust.seconds:.1f} s. Outcomes: "
            + _shares(faust.outcomes)
            + f". Peak RSS {_mib(faust.hwm_kb)}. CPU in cores: "
            + ", ".join(f"{k} {v:.2f}" for k, v in faust.cpu.items())
            + "; per event that is "
            + ", ".join(
                f"{v / faust.rate * 1e6:,.0f} µs in {k}"
                for k, v in faust.cpu.items()
                if k in ("faust agent", "postgres (all backends)")
            )
            + " (orderstate: see the backlog table)"
            + ". Per event it writes the orders row, outbox, processed_events and, when they "
            "apply, rejected_events and parked_events rows; orderstate also writes order_items, "
            "order_shipments, order_state_history and consumer_offsets, so the baseline does "
            "less work per event. On a backlog faust interleaves the two topics differently "
            "from the orderstate worker, so more shipment events arrive before their order "
            "(parked, then late states): its outcome mix differs."
        )
    else:
        add(f"Did not run: {r.get('faust_error', 'skipped by --skip faust')}")
    add("")

    _monitor_section(r, add)

    add("## Notes")
    add("")
    add(
        f"- One {cores}-core machine runs everything: Kafka, PostgreSQL (fsync and "
        "synchronous_commit on: every commit waits for a WAL flush), the processes under test "
        "and this bench process (which paces, polls and reads back during the latency runs)."
    )
    add(
        "- (a) ran three times ("
        + ", ".join(number(c.rate) for c in r["consume_runs"])
        + " records/s); the table shows the fastest, with the page cache warm."
    )
    add(
        "- 'other processes' in the CPU tables is CPU used on the host by anything not measured "
        "(other sessions, kernel threads); a large figure there means the run was disturbed. "
        f"Per-second CPU of every process: `{r['logs'].relative_to(infra.REPO)}/cpu-timeline.txt`."
    )
    if r["cleanup_problems"]:
        add("- Clean-up problems: " + "; ".join(r["cleanup_problems"]))
    add(f"- Logs and profiles of this run: `{r['logs'].relative_to(infra.REPO)}/` (not committed).")
    add("")
    return "\n".join(lines)


def _monitor_section(r: dict[str, Any], add: Any) -> None:
    runs: list[monitor.MonitorResult] = r.get("monitor", [])
    if not runs:
        return
    add("## (e) the order monitor")
    add("")
    add(
        "`orderstate monitor` (faust-streaming "
        f"{r['machine']['faust-streaming']}, defaults: batches of up to 1,000 records or 200 "
        "ms) in a new consumer group on the order events and rejections (d) published (its "
        "backlog and latency runs), on (d)'s database; alerts to a topic of its own. A run "
        "ends when the monitors' /metrics have counted every record."
    )
    add("")
    add(
        "| processes | fetch page | records | started → first batch | started → all | "
        "events/s | alerts raised / cleared | peak RSS each | CPU (cores) |"
    )
    add("|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        cpu = ", ".join(
            f"{k} {v:.2f}" for k, v in sorted(run.cpu.items(), key=lambda kv: -kv[1]) if v >= 0.01
        )
        add(
            f"| {run.processes} | {_page_text(_page(run))} | {run.records:,} "
            f"| {number(run.first_s, 1)} s "
            f"| {run.seconds:.1f} s "
            f"| {number(run.rate)} (from the first batch {number(run.rate_after_first)}) | "
            f"{run.alerts.get('raised', 0):,} / {run.alerts.get('cleared', 0):,} | "
            + ", ".join(_mib(kb) for kb in run.hwm_kb)
            + f" | {cpu} |"
        )
    add("")
    ceilings = _ceilings(r)
    if ceilings:
        rates = "; ".join(
            f"{number(c.rate)} events/s with a {_page_text(_page(c))} page" for c in ceilings
        )
        add(
            f"(e') bench/faust_take.py reads the same {ceilings[0].records:,} records with one "
            "faust agent that takes batches as the monitor does and only acknowledges them, "
            f"from its first batch: {rates}. With the monitor's page that is faust-streaming's "
            "own cost per record here (its consumer thread, conductor, stream and take buffer), "
            "before any work is done with it. With faust's default page the fetch bounds it: "
            "faust holds a fetch of caught-up partitions for 1.5 s and fetches nothing else "
            "from that broker meanwhile (docs/monitor.md, Throughput)."
        )
        add("")


def _profile_section(r: dict[str, Any], add: Any) -> None:
    args = r["args"]
    pb = r["profile_batches"]
    events = max(pb["events"], 1)
    for title, prof in (("worker", r["profile"]), ("relay", r["relay_profile"])):
        samples, rate = prof["samples"], prof["rate"]

        def per_event(n: int, rate: int = rate) -> str:
            return f"{n / rate / events * 1e6:.1f}"

        add(f"## (d) where the {title}'s CPU goes (sampled)")
        add("")
        if title == "worker":
            add(
                "`orderstate worker` and `orderstate relay` on a fresh database and group "
                f"reading the same backlog, each sampled by py-spy from outside the process "
                f"({rate} stacks a second, bench/stacks.py) for {args.profile_seconds:g} s "
                f"from process start: {pb['events']:,} events in {pb['batches']} batches. "
                "Only stacks on a CPU are sampled, so a share is a share of the process's CPU "
                "time; the µs per event divide the samples by the rate and by those events. "
                "Work in C counts to the Python function that called it (pydantic's "
                "validators to pydantic, asyncpg's encoders to asyncpg). "
                "The sampler does not distort the code it measures, as cProfile, which these "
                "tables came from before 2026-12-05, did: it made pure-Python calls look "
                "several times dearer than calls into C. It does stop the process briefly for "
                "each sample, and the window begins at process start (imports, connecting, "
                "the first fetches), so the µs per event here read higher than the backlog's "
                "CPU per record in the (d) table above: read the shares."
            )
            add("")
        add(
            f"{samples:,} samples = {samples / rate:.1f} s of CPU, "
            f"{per_event(samples)} µs per event."
        )
        add("")
        add("| CPU by area (the function on top of the stack) | share | µs per event |")
        add("|---|---|---|")
        for name, n in prof["by_area"]:
            if n / samples >= 0.005:
                add(f"| {name} | {n / samples:.0%} | {per_event(n)} |")
        add("")
        add("| functions most often on top of the stack | share | µs per event |")
        add("|---|---|---|")
        for name, n in prof["own"][: 20 if title == "worker" else 12]:
            add(f"| `{name}` | {n / samples:.1%} | {per_event(n)} |")
        add("")
        steps = [(name, n) for name, n in prof["inclusive"] if n / samples >= 0.005]
        if steps:
            add("| steps, with everything they call | share | µs per event |")
            add("|---|---|---|")
            for name, n in steps:
                add(f"| `{name}` | {n / samples:.0%} | {per_event(n)} |")
            add("")
    _statements_section(r["statements"], add)


def _statements_section(st: pipeline.StatementProfile, add: Any) -> None:
    client = sum(c.client_cpu_s for c in st.statements)
    server = sum(c.server_cpu_s for c in st.statements)
    add("## (d) apply_batch alone, statement by statement")
    add("")
    add(
        "The backlog's records decoded and applied in the bench process, 500 per batch, "
        "without Kafka and without the worker's fetch/apply overlap (time-boxed to 25 s): "
        f"{st.events:,} events in {st.batches} batches, {st.seconds:.1f} s = "
        f"**{st.rate:,.0f} events/s**. decode_record {st.decode_s:.1f} s; apply_batch "
        f"{st.apply_s:.1f} s, of which waiting on SQL round trips {st.sql_s:.1f} s and Python "
        f"{st.apply_s - st.sql_s:.1f} s. CPU per event: decode_record "
        f"{st.decode_cpu_s / st.events * 1e6:.1f} µs, apply_batch's Python "
        f"{(st.apply_cpu_s - client) / st.events * 1e6:.1f} µs, asyncpg in the statements "
        f"{client / st.events * 1e6:.1f} µs, PostgreSQL's backend {server / st.events * 1e6:.1f}"
        " µs (bench/batch_cost.py takes the same apart for small batches)."
    )
    add("")
    add(
        "| statement | seconds | calls | ms per call | client CPU µs per call "
        "| server CPU µs per call |"
    )
    add("|---|---|---|---|---|---|")
    for c in st.statements:
        add(
            f"| {c.name} | {c.wall_s:.2f} | {c.calls:,} | {c.wall_s / c.calls * 1000:.1f} | "
            f"{c.client_cpu_s / c.calls * 1e6:,.0f} | {c.server_cpu_s / c.calls * 1e6:,.0f} |"
        )
    add("")


def _gc_line(stats: dict[str, Any] | None) -> str:
    if not stats:
        return "n/a"
    gens = stats["generations"]
    total = sum(g["total_s"] for g in gens.values())
    parts = ", ".join(
        f"gen{n} {g['collections']:,} pauses, max {g['max_s'] * 1000:.0f} ms"
        for n, g in gens.items()
    )
    return f"{total:.2f} s paused in {stats['seconds']:.0f} s ({parts})"


def _gc_section(r: dict[str, Any], add: Any) -> None:
    add("## (d) garbage collection in the worker")
    add("")
    add(
        "The worker allocates many short-lived objects per event (pydantic models, dicts, "
        "lists); CPython's cyclic collector runs every 700 net allocations and now and then "
        "walks every tracked object. bench/observed.py records each collector pause of the "
        "worker (`gc.callbacks`). During the sampled profile: "
        + _gc_line(r.get("profile_gc"))
        + "."
    )
    add("")
    add(
        "The experiment: worker and relay started through bench/observed.py on a fresh "
        "database and group, once only observed, once with `gc.freeze()` after start-up "
        f"and `gc.set_threshold({r['args'].gc_tune})`; each applies the whole backlog and then "
        "takes 20 s at 1,000 events/s."
    )
    add("")
    add("| arm | backlog events/s | worker CPU µs/record | p50 / p99 ms | worker RSS peak | GC |")
    add("|---|---|---|---|---|---|")
    for arm, data in r["gc"].items():
        tp, lat = data["throughput"], data["latency"]
        worker_cores = tp.cpu.get(pipeline.WORKER, math.nan)
        us = worker_cores * tp.started_to_drained_s / tp.records * 1e6
        add(
            f"| {arm} | {number(tp.rate)} | {us:,.0f} | {_pct(lat.committed_ms, 50)} / "
            f"{_pct(lat.committed_ms, 99)} | {_mib(data['hwm_kb'])} | {_gc_line(data['gc'])} |"
        )
    others = [d["throughput"].cpu.get(infra.OTHER, 0.0) for d in r["gc"].values()]
    add("")
    add(
        "CPU used by other processes during the two backlogs: "
        + ", ".join(f"{o:.2f}" for o in others)
        + " cores (one run each: compare with that in mind)."
    )
    add("")


def _loop_section(r: dict[str, Any], add: Any) -> None:
    add("## (d) event loop: asyncio's own and uvloop")
    add("")
    add(
        "Worker and relay with `ORDERSTATE_EVENT_LOOP=asyncio` and `=uvloop` (the default), "
        "each on a fresh database and group: the whole backlog, then 20 s at 1,000 events/s. "
        "Two rounds, the arms in turns; the machine's speed before each is in the list under "
        "Machine and versions."
    )
    add("")
    add(
        "| arm | round | backlog events/s | worker CPU µs/record | relay CPU µs/record | "
        "p50 / p99 ms |"
    )
    add("|---|---|---|---|---|---|")
    per_arm: dict[str, list[tuple[float, float, float]]] = {}
    for data in r["event_loop"]:
        tp, lat = data["throughput"], data["latency"]
        worker, relay = (
            tp.cpu.get(name, math.nan) * tp.started_to_drained_s / tp.records * 1e6
            for name in (pipeline.WORKER, pipeline.RELAY)
        )
        per_arm.setdefault(data["arm"], []).append((tp.rate, worker, relay))
        add(
            f"| {data['arm']} | {data['round']} | {number(tp.rate)} | {worker:,.0f} | "
            f"{relay:,.0f} | {_pct(lat.committed_ms, 50)} / {_pct(lat.committed_ms, 99)} |"
        )
    add("")
    if {"asyncio", "uvloop"} <= per_arm.keys():
        mean = {
            arm: [sum(column) / len(column) for column in zip(*rows, strict=True)]
            for arm, rows in per_arm.items()
        }
        a, u = mean["asyncio"], mean["uvloop"]
        add(
            f"Means of the rounds: asyncio {number(a[0])} events/s, worker {a[1]:,.0f} µs and "
            f"relay {a[2]:,.0f} µs per record; uvloop {number(u[0])} events/s "
            f"({u[0] / a[0]:.2f} times), worker {u[1]:,.0f} µs ({u[1] / a[1]:.2f} times) and relay "
            f"{u[2]:,.0f} µs ({u[2] / a[2]:.2f} times) per record."
        )
        add("")


def _machine_section(r: dict[str, Any], add: Any) -> None:
    add("## Machine and versions")
    add("")
    for key, value in r["machine"].items():
        add(f"- {key}: {value}")
    add(f"- CPU in use by others just before the run: {r['load_before']:.2f} cores")
    if r.get("speed"):
        probes = [us for _, us in r["speed"]]
        add(
            "- Speed of the machine through the run (a fixed workload, `decode_record` on 300 "
            f"records, timed before each phase; µs per record, lower is faster): min "
            f"{min(probes):.1f}, max {max(probes):.1f}; "
            + ", ".join(f"{title.split(':')[0][:40]} {us:.1f}" for title, us in r["speed"])
            + ". A shared virtual machine's speed drifts: compare figures taken at different "
            "speeds with care."
        )
    add("")
