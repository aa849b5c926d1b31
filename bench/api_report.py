"""bench/results-api.md from one `make bench-api` run: the summary table first, then the data
set, the speed of the machine, every load run, the same-run ceiling, the list for every
filter, the CPU of each process, and the EXPLAIN matrix."""

import math
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import api_ceiling
import api_data
import api_explain
import infra
import probe_record
from api_load import LoadResult
from figures import number, percentile, verdict
from probe_record import ProbeRecord

RESULTS = Path(__file__).with_name("results-api.md")
# `make bench`'s report: its "Speed of the machine" line gives the probe of each phase.
BENCH_RESULTS = Path(__file__).with_name("results.md")
TARGET_P99_MS, TARGET_RATE = 5.0, 1000.0  # GET by id, paced, at the best recorded speed
TARGET_RATIO = 0.7  # GET by id closed loop / the ceiling closed loop, same run
FILTER_P99_MS, FILTER_RATE = 30.0, 100.0  # the list, every filter of the EXPLAIN matrix
# A probe within this factor of the best recorded one counts as "at the best recorded speed".
SPEED_TOLERANCE = 1.10
API, PG, CLIENT = "orderstate api", "PostgreSQL (every backend)", "bench client (this process)"


@dataclass
class Speed:
    """The speed probe (µs per record, lower is faster) timed before and after a load run,
    and the CPU that processes outside the benchmark used during it."""

    key: str
    title: str
    before_us: float
    after_us: float = math.nan
    others_cores: float = math.nan

    @property
    def slower_us(self) -> float:
        """The slower of the two probes (the one before when there is no other)."""
        return self.before_us if math.isnan(self.after_us) else max(self.before_us, self.after_us)


@dataclass
class FilterRun:
    """The list with one filter of the EXPLAIN matrix, paced."""

    key: str  # of its Speed
    label: str
    path: str
    result: LoadResult
    check_status: int  # the answer to one request before the run
    check_body: str  # its body when it was not 200
    total_count: str | None  # its X-Total-Count, as answered (exact or not)
    total_estimated: str | None = None  # its X-Total-Count-Estimated, if the API sends one


def best_recorded_probe(
    path: Path = BENCH_RESULTS, record: Path = probe_record.RECORD
) -> ProbeRecord | None:
    """The fastest speed probe recorded: bench/probe-record.json, or the fastest in
    bench/results.md ("Speed of the machine ...: min X") if that is faster still (a
    `make bench` whose record was not kept)."""
    kept = probe_record.fastest(record)
    try:
        text = path.read_text()
    except OSError:
        return kept
    found = re.search(r"Speed of the machine[^\n]*?\bmin ([0-9]+(?:\.[0-9]+)?)", text)
    if found and (kept is None or float(found[1]) < kept.us):
        return ProbeRecord(float(found[1]), "bench/results.md")
    return kept


def ceiling_ratio(r: dict[str, Any], n: int | None = None) -> float:
    """GET by id closed-loop throughput / the ceiling's: pair ``n``, or both pairs together
    (the sum of the GET rates over the sum of the ceiling rates)."""
    pairs = [n] if n is not None else [1, 2]
    keys = [(f"get_closed_{i}", f"ceiling_closed_{i}") for i in pairs]
    if not all(g in r and c in r for g, c in keys):
        return math.nan
    ceiling = sum(r[c].rate for _, c in keys)
    return sum(r[g].rate for g, _ in keys) / ceiling if ceiling else math.nan


def _probe(r: dict[str, Any], key: str) -> str:
    """The probe before / after a load run."""
    speed: Speed | None = r.get("speed", {}).get(key)
    if speed is None:
        return "n/a"
    return f"{speed.before_us:.1f} / {number(speed.after_us, 1)}"


def at_best(r: dict[str, Any], key: str) -> bool | None:
    """Whether both probes of a load run read within SPEED_TOLERANCE of the best recorded
    probe; None when there is no best recorded probe or no probe of the run."""
    best: float | None = r.get("best_probe")
    speed: Speed | None = r.get("speed", {}).get(key)
    if best is None or speed is None:
        return None
    return speed.slower_us <= best * SPEED_TOLERANCE


def _speed(r: dict[str, Any], key: str) -> str:
    """Where a load run's probes stand against the best recorded one."""
    best: float | None = r.get("best_probe")
    speed: Speed | None = r.get("speed", {}).get(key)
    if speed is None:
        return "no probe"
    probes = f"probe {speed.before_us:.1f} µs before, {number(speed.after_us, 1)} after"
    others = f"; other processes used {number(speed.others_cores, 2)} cores meanwhile"
    if best is None:
        return f"{probes}; best recorded n/a{others}"
    where = (
        "at the best recorded speed" if at_best(r, key) else "**slower than the best recorded run**"
    )
    return (
        f"{probes}: the slower of the two = {speed.slower_us / best:.2f}x the best recorded "
        f"{best:.1f} µs, "
        f"{where}{others}"
    )


def _ms(values: list[float], q: float) -> str:
    return number(percentile(values, q), 1)


RUNS = (
    "get_paced",
    "ceiling_closed_1",
    "floor_closed_1",
    "get_closed_1",
    "ceiling_closed_2",
    "floor_closed_2",
    "get_closed_2",
    "list_closed",
    "list_paced",
)


def _label(r: dict[str, Any], key: str) -> str:
    run: LoadResult = r[key]
    if key.startswith("ceiling"):
        what = "ceiling `/bench/ceiling/{order_id}`"
    elif key.startswith("floor"):
        what = "framework floor `/bench/floor/{order_id}`"
    elif key.startswith("get"):
        what = "GET /v2/orders/{order_id}"
    else:
        what = "filtered list"
    turn = f" (run {key[-1]} of 2)" if key[-2:] in ("_1", "_2") else ""
    if run.kind == "paced":
        auto = " (half the closed-loop rate)" if key == "list_paced" and r["list_rate_auto"] else ""
        return f"{what}, paced at {run.target_rate:g} req/s{auto}, {run.connections} connections"
    return f"{what}, closed loop{turn}, {run.connections} connections"


def _get_paced_target(r: dict[str, Any]) -> str:
    run: LoadResult = r["get_paced"]
    p99 = percentile(run.latencies_ms, 99)
    ok = p99 <= TARGET_P99_MS and run.rate >= TARGET_RATE * 0.98 and not run.errors
    return (
        f"p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:,.0f} req/s at the best recorded speed: "
        f"{verdict(ok)} ({_speed(r, 'get_paced')})"
    )


def _filter_ok(run: FilterRun) -> bool:
    res = run.result
    return (
        percentile(res.latencies_ms, 99) <= FILTER_P99_MS
        and res.rate >= FILTER_RATE * 0.98
        and not res.errors
        and run.check_status == 200
    )


def _filter_errors(run: FilterRun) -> str:
    res = run.result
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(res.statuses.items()) if s != 200)
    return f"{res.errors:,} ({statuses})" if res.errors else "0"


def _total(run: FilterRun) -> str:
    """X-Total-Count as answered, and X-Total-Count-Estimated when the API sent it."""
    if run.total_count is None:
        return "none"
    return run.total_count + (
        f" (estimated: {run.total_estimated})" if run.total_estimated is not None else ""
    )


def filter_table(r: dict[str, Any]) -> str:
    runs: list[FilterRun] = r.get("filter_runs", [])
    lines = [
        "| filter (`order_by=order_date&limit=20`) | requests/s | p50 | p99 | max | errors | "
        "probe µs before / after | X-Total-Count | target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        res = run.result
        lat = res.latencies_ms
        lines.append(
            f"| {run.label} | {number(res.rate)} | {_ms(lat, 50)} | **{_ms(lat, 99)}** | "
            f"{number(max(lat) if lat else math.nan, 1)} | {_filter_errors(run)} | "
            f"{_probe(r, run.key)} | {_total(run)} | "
            f"p99 ≤ {FILTER_P99_MS:g} ms at {FILTER_RATE:g} req/s: {verdict(_filter_ok(run))}"
            + (" (slower than the best recorded run)" if at_best(r, run.key) is False else "")
            + " |"
        )
    return "\n".join(lines)


def summary(r: dict[str, Any]) -> str:
    lines = [
        "| measure | requests/s | p50 / p99 latency | probe µs before / after | target |",
        "|---|---|---|---|---|",
    ]
    for key in RUNS:
        if key not in r:
            continue
        run: LoadResult = r[key]
        target = _get_paced_target(r) if key == "get_paced" else ""
        errors = f" ({run.errors:,} errors)" if run.errors else ""
        lines.append(
            f"| {_label(r, key)} | {number(run.rate)}{errors} | "
            f"{_ms(run.latencies_ms, 50)} / **{_ms(run.latencies_ms, 99)} ms** | "
            f"{_probe(r, key)} | {target} |"
        )
        if key == "get_closed_2":
            ratio = ceiling_ratio(r)
            pairs = ", ".join(number(ceiling_ratio(r, n), 2) for n in (1, 2))
            lines.append(
                f"| GET by id closed loop / the ceiling closed loop (pairs: {pairs}) | "
                f"**{number(ratio, 2)}x** | | | ≥ {TARGET_RATIO:g}x: "
                f"{verdict(ratio >= TARGET_RATIO)} |"
            )
    runs: list[FilterRun] = r.get("filter_runs", [])
    if runs:
        worst = max(runs, key=lambda f: percentile(f.result.latencies_ms, 99))
        met = sum(_filter_ok(f) for f in runs)
        failed = sum(f.result.errors for f in runs)
        speeds: list[Speed] = [r["speed"][f.key] for f in runs if f.key in r.get("speed", {})]
        probes = [x for s in speeds for x in (s.before_us, s.after_us) if not math.isnan(x)]
        best = sum(at_best(r, f.key) is True for f in runs)
        at_speed = (
            f"; {best} of {len(runs)} runs at the best recorded speed"
            if r.get("best_probe") is not None
            else ""
        )
        rates = [f.result.rate for f in runs]
        lines.append(
            f"| the list for each of the {len(runs)} filters of the EXPLAIN matrix, paced at "
            f"{r['args'].list_filter_rate:g} req/s | {number(min(rates))}-{number(max(rates))} "
            f"({failed:,} errors) | worst p99 "
            f"**{_ms(worst.result.latencies_ms, 99)} ms** ({worst.label}) | "
            f"{number(min(probes, default=math.nan), 1)}-{number(max(probes, default=math.nan), 1)}"
            f" | p99 ≤ {FILTER_P99_MS:g} ms at {FILTER_RATE:g} req/s at the best recorded speed, "
            f"for every filter: {verdict(met == len(runs))} ({met} of {len(runs)} met{at_speed}) |"
        )
    if "explain" in r:
        results: list[api_explain.CaseResult] = r["explain"]
        plans = sum(len(c.pages) + 1 for c in results)
        bad = len(r["explain_problems"])
        lines.append(
            f"| EXPLAIN: {plans} list statements (page and count), every filter x order_by | | "
            f"{bad} with a sequential scan, a sort of > {api_explain.BIG_SORT_ROWS:,} rows or "
            f"a scan discarding > {api_explain.UNBOUNDED_ROWS:,} rows | | "
            f"index-bounded scans only: {verdict(bad == 0)} |"
        )
    lines.append("")
    lines.append(speed_line(r))
    if runs:
        lines.append("")
        lines.append(filter_table(r))
    return "\n".join(lines)


def run_probes(r: dict[str, Any]) -> list[float]:
    """Every probe the run timed, before and after its load runs."""
    speeds: list[Speed] = list(r.get("speed", {}).values())
    return [x for s in speeds for x in (s.before_us, s.after_us) if not math.isnan(x)]


def speed_line(r: dict[str, Any]) -> str:
    probes = run_probes(r)
    best = r.get("best_probe")
    best_text = f"{best:.1f} µs ({r.get('best_probe_seen')})" if best is not None else "n/a"
    if not probes:
        return f"Speed probe: none timed; best recorded: {best_text}."
    fastest = min(probes)
    versus = f" (this run's fastest = {fastest / best:.2f}x that)" if best else ""
    return (
        f"Speed probe (`decode_record` on 300 records, µs per record, lower is faster) before "
        f"and after each load run: min {fastest:.1f}, max {max(probes):.1f}; best recorded: "
        f"{best_text}{versus}. A run is at the best recorded speed when both its probes read "
        f"within {SPEED_TOLERANCE:.2f}x of it."
    )


def _cpu_lines(run: LoadResult) -> list[str]:
    lines = ["| process | cores | CPU ms per request |", "|---|---|---|"]
    for name, cores in sorted(run.cpu.items(), key=lambda kv: -kv[1]):
        if name == infra.HOST:
            continue
        per = cores / run.rate * 1000 if run.rate else math.nan
        lines.append(f"| {name} | {cores:.2f} | {number(per, 2)} |")
    host = run.cpu.get(infra.HOST, math.nan)
    lines.append(
        f"| **{infra.HOST}** | **{host:.2f}** | {number(host / run.rate * 1000, 2)} |"
        if run.rate
        else f"| **{infra.HOST}** | **{host:.2f}** | |"
    )
    return lines


def _windows(run: LoadResult, width_s: float = 5.0) -> list[str]:
    """p50/p99 per window of due times (paced runs): a spike told apart from a level."""
    if run.target_rate is None:
        return []
    per = int(run.target_rate * width_s)
    lines = ["| due at (s) | requests | p50 ms | p99 ms | max ms |", "|---|---|---|---|---|"]
    for start in range(0, len(run.latencies_ms), per):
        chunk = [x for x in run.latencies_ms[start : start + per] if not math.isnan(x)]
        lines.append(
            f"| {start / run.target_rate:.0f}-{(start + per) / run.target_rate:.0f} | "
            f"{len(chunk):,} | {_ms(chunk, 50)} | {_ms(chunk, 99)} | "
            f"{number(max(chunk) if chunk else math.nan, 1)} |"
        )
    return lines


def _run_section(r: dict[str, Any], key: str, add: Any) -> None:
    run: LoadResult = r[key]
    add(f"### {_label(r, key)}")
    add("")
    lat = run.latencies_ms
    add(
        "| requests | seconds | requests/s | p50 | p90 | p99 | p99.9 | max | errors | "
        "bytes per response | probe µs before / after |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|")
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(run.statuses.items()) if s != 200)
    add(
        f"| {run.requests:,} | {run.seconds:.1f} | {number(run.rate)} | {_ms(lat, 50)} | "
        f"{_ms(lat, 90)} | {_ms(lat, 99)} | {_ms(lat, 99.9)} | {number(max(lat), 1)} | "
        f"{statuses or 0} | {number(run.bytes_in / run.requests if run.requests else math.nan)} "
        f"| {_probe(r, key)} |"
    )
    add("")
    if run.kind == "paced":
        add(
            f"Latency in ms from each request's due time. Service time (send → answer) p50 "
            f"{_ms(run.service_ms, 50)} / p99 {_ms(run.service_ms, 99)} ms; the client sent "
            f"p99 {_ms(run.send_lag_ms, 99)} ms (max {number(max(run.send_lag_ms), 1)} ms) "
            "after the due time (waiting for a free connection or for its event loop)."
        )
    else:
        add("Latency in ms from send to the end of the response.")
    reconnects = (
        f" {run.reconnects:,} requests found their connection closed by the server while idle "
        "(keep-alive timeout) and reconnected first."
        if run.reconnects
        else ""
    )
    add(
        f"Client CPU: {run.client_cpu_s:.1f} s = {number(run.client_cpu_us_per_request)} µs per "
        f"request.{reconnects}"
    )
    add("")
    for line in _cpu_lines(run):
        add(line)
    add("")
    windows = _windows(run)
    if windows:
        for line in windows:
            add(line)
        add("")


def _explain_section(r: dict[str, Any], add: Any) -> None:
    results: list[api_explain.CaseResult] = r["explain"]
    add("## EXPLAIN of the list statements")
    add("")
    add(
        f"Shop `{r['args'].shop}` ({r['dataset'].orders // r['dataset'].shops:,} orders), "
        f"`limit={api_explain.PAGE}`, `offset=0`. Each statement is the SQL of "
        "`orderstate.api.reads.list_statements`, PREPAREd with `plan_cache_mode = "
        "force_custom_plan` as the API lists, executed five times, and the sixth "
        "execution explained with `EXPLAIN (ANALYZE, BUFFERS)`: the plan the API's prepared "
        'statement gets ("generic" would mark a plan made without the values). '
        "In **bold**: a sequential scan, a Sort of more than "
        f"{api_explain.BIG_SORT_ROWS:,} rows, and a scan that reads and throws away more than "
        f"{api_explain.UNBOUNDED_ROWS:,} rows (its index does not bound it: the filter is "
        f"checked row by row). The whole matrix took {r['explain_s']:.1f} s."
    )
    add("")
    if r["explain_problems"]:
        add("Plans with a sequential scan, a big sort or an unbounded scan:")
        add("")
        for problem in r["explain_problems"]:
            add(f"- {problem}")
    else:
        add(
            "Every plan uses index scans bounded by their index; no sequential scan, no sort "
            f"of more than {api_explain.BIG_SORT_ROWS:,} rows."
        )
    add("")
    add("Execution time (ms) of the page statement per `order_by`, and of the count:")
    add("")
    head = " | ".join(
        f"`{o}`" + (" (default)" if o == api_explain.DEFAULT_ORDER_BY else "")
        for o in api_explain.ORDER_BYS
    )
    add(f"| filter | {head} | X-Total-Count |")
    add("|---|" + "---|" * (len(api_explain.ORDER_BYS) + 1))
    for c in results:
        cells = [
            number(c.pages[o].execution_ms, 2) + ("" if c.pages[o].ok else " **!**")
            for o in api_explain.ORDER_BYS
        ]
        count = number(c.count.execution_ms, 2) + ("" if c.count.ok else " **!**")
        add(f"| {c.case.label} | {' | '.join(cells)} | {count} |")
    add("")
    add("Scan nodes per statement (rows = rows the node returned):")
    add("")
    add("| filter | statement | plan | ms | buffers hit / read |")
    add("|---|---|---|---|---|")
    for c in results:
        query = f"`{c.case.query}`" if c.case.query else "(none)"
        for label, p in [
            *((f"page, order_by={o}", c.pages[o]) for o in api_explain.ORDER_BYS),
            ("X-Total-Count", c.count),
        ]:
            kind = " (generic)" if p.generic else ""
            jit = " (JIT)" if p.jit else ""
            add(
                f"| {c.case.label}: {query} | {label}{kind} | {p.summary}{jit} | "
                f"{number(p.execution_ms, 2)} | {p.shared_hit:,} / {p.shared_read:,} |"
            )
    add("")


def _speed_section(r: dict[str, Any], add: Any) -> None:
    add("## Speed of the machine")
    add("")
    add(
        "A fixed CPU workload (`hotpaths.speed_probe`: `decode_record` on 300 records, best of "
        "5, µs per record, lower is faster), timed in the bench process before each load run, "
        "as `make bench` times it before each phase, and again after it: a probe takes a "
        "tenth of a second, a run many seconds. A shared virtual machine's speed drifts: a run "
        "whose probes read slower than the best recorded one says little about the absolute "
        "targets; the CPU that other processes used during the run (from /proc) says why. "
        + speed_line(r)
    )
    add("")
    speeds: list[Speed] = list(r.get("speed", {}).values())
    if speeds:
        best = r.get("best_probe")
        add(
            "| load run | probe before µs | after µs | the slower x best recorded | "
            "other processes, cores |"
        )
        add("|---|---|---|---|---|")
        for s in speeds:
            add(
                f"| {s.title} | {s.before_us:.1f} | {number(s.after_us, 1)} | "
                f"{number(s.slower_us / best, 2) if best else 'n/a'} | "
                f"{number(s.others_cores, 2)} |"
            )
        add("")


def _ceiling_section(r: dict[str, Any], add: Any) -> None:
    args = r["args"]
    add("## GET by id against the same-run ceiling")
    add("")
    add(
        "The ceiling is `GET /bench/ceiling/{order_id}` on the same uvicorn server and the same "
        f"asyncpg pool (the app's `ApiContext.pool`): `{api_ceiling.READ}` for the bench shop "
        f"(`{args.shop}`), answered with the stored JSON text as it is, "
        "without the API's middleware, routing, authentication, parsing or model. GET "
        "/v2/orders/{order_id} does more for the same order: the API key, the view parsed "
        "with its states_history, the open alerts, the response model. Closed loop in turns, "
        f"ceiling, floor, then GET, twice, each {args.closed_seconds:g} s on "
        f"{args.closed_connections} connections; a drift of the machine falls on all three."
    )
    add("")
    add(
        "The framework floor, `GET /bench/floor/{order_id}`, is the ceiling's read and answer "
        "as a FastAPI route of the same app: behind the API's middleware, its routing and its "
        "app-wide dependency, without authentication, parsing or model. Between the ceiling and "
        "the floor is what FastAPI and the middleware cost; between the floor and GET, what the "
        "route itself does."
    )
    add("")
    add(
        "| pair | ceiling req/s | probe µs before / after | floor req/s | GET by id req/s | "
        "probe µs before / after | GET / ceiling | target |"
    )
    add("|---|---|---|---|---|---|---|---|")
    for n in (1, 2):
        c, g = r[f"ceiling_closed_{n}"], r[f"get_closed_{n}"]
        f = r.get(f"floor_closed_{n}")
        ratio = ceiling_ratio(r, n)
        add(
            f"| {n} | {number(c.rate)} | {_probe(r, f'ceiling_closed_{n}')} | "
            f"{number(f.rate) if f else 'n/a'} | {number(g.rate)} | "
            f"{_probe(r, f'get_closed_{n}')} | {number(ratio, 2)}x | ≥ {TARGET_RATIO:g}x: "
            f"{verdict(ratio >= TARGET_RATIO)} |"
        )
    ratio = ceiling_ratio(r)
    add(
        f"| both | | | | | | **{number(ratio, 2)}x** | ≥ {TARGET_RATIO:g}x: "
        f"{verdict(ratio >= TARGET_RATIO)} |"
    )
    add("")
    per_get = [r[f"get_closed_{n}"] for n in (1, 2)]
    per_ceiling = [r[f"ceiling_closed_{n}"] for n in (1, 2)]
    per_floor = [r[k] for k in ("floor_closed_1", "floor_closed_2") if k in r]

    def api_ms(runs: list[LoadResult]) -> str:
        return number(
            sum(x.cpu.get(API, math.nan) for x in runs) / sum(x.rate for x in runs) * 1000, 3
        )

    add(
        f"API process CPU per request: ceiling {api_ms(per_ceiling)} ms, floor "
        f"{api_ms(per_floor) if per_floor else 'n/a'} ms, GET by id "
        f"{api_ms(per_get)} ms. Answer sizes: ceiling {r.get('ceiling_bytes', 0):,} bytes, "
        f"GET by id {r.get('get_bytes', 0):,} bytes (the first order)."
    )
    add("")
    served = r.get("served")
    if served:
        before, after = served["before"], served["after"]
        ceiling_n = after["ceiling"] - before["ceiling"]
        api_n = after["api"] - before["api"]
        same = (
            before["pid"] == after["pid"] == served["launched_pid"]
            and ceiling_n == served["ceiling_sent"]
            and api_n == served["get_sent"] + served.get("floor_sent", 0)
        )
        add(
            "**One server for all.** `GET /bench/served` asked before and after the six "
            f"closed-loop runs: pid {after['pid']} (the process the bench started: "
            f"{served['launched_pid']}) answered {ceiling_n:,} requests on the ceiling path and "
            f"passed {api_n:,} on to the API in between; the runs sent {served['ceiling_sent']:,} "
            f"to the ceiling, {served.get('floor_sent', 0):,} to the floor and "
            f"{served['get_sent']:,} GETs by id, on the same port: "
            + ("the same process answered every one." if same else "**these differ**.")
        )
        add("")


def _filters_section(r: dict[str, Any], add: Any) -> None:
    args = r["args"]
    runs: list[FilterRun] = r["filter_runs"]
    add("## The list for every filter of the EXPLAIN matrix")
    add("")
    add(
        f"Each filter of the EXPLAIN matrix (`api_explain.cases`) with the default "
        f"`order_by={api_explain.DEFAULT_ORDER_BY}` and `limit={api_explain.PAGE}`, the default "
        f"total (no `total=` parameter: `X-Total-Count` is whatever the API answers by "
        f"default), paced at {args.list_filter_rate:g} req/s for {args.list_filter_seconds:g} s "
        f"on {args.paced_connections} connections after {args.list_filter_warmup:g} s of "
        "warm-up, one filter after the other. Latency in ms from the due time; X-Total-Count "
        "(and X-Total-Count-Estimated, when the API sends it) from one request before the run."
    )
    add("")
    add(filter_table(r))
    add("")
    add("| filter | path | service p99 ms | client sent p99 ms late | CPU api | CPU postgres |")
    add("|---|---|---|---|---|---|")
    for run in runs:
        res = run.result
        add(
            f"| {run.label} | `{run.path}` | {_ms(res.service_ms, 99)} | "
            f"{_ms(res.send_lag_ms, 99)} | {res.cpu.get(API, math.nan):.2f} | "
            f"{res.cpu.get(PG, math.nan):.2f} |"
        )
    add("")
    bad = [run for run in runs if run.check_status != 200]
    for run in bad:
        add(f"- {run.label}: HTTP {run.check_status}: `{run.check_body}`")
    if bad:
        add("")


def _before_section(r: dict[str, Any], add: Any) -> None:
    rev, commit = r["before_rev"], r["before_commit"]
    add(f"## This code against {rev} (`{commit}`), same run")
    add("")
    add(
        f"`--before {rev}`: after the runs above, GET by id and the load list, closed loop "
        f"({r['args'].closed_seconds:g} s each, {r['args'].closed_connections} connections), "
        f"on this code and on {rev}'s `services/` (git archive), in turns: this code, {rev}, "
        f"{rev}, this code; each turn on a freshly started api process, after 2 s of paced GETs "
        "to warm its pool. The same database, key, requests and machine."
    )
    add("")
    add(
        "| turn | code | probe µs before / after | GET req/s | api ms CPU per GET | "
        "PostgreSQL ms CPU per GET | list req/s | api ms CPU per list | "
        "PostgreSQL ms CPU per list |"
    )
    add("|---|---|---|---|---|---|---|---|---|")

    def per(run: LoadResult, who: str) -> float:
        return run.cpu.get(who, math.nan) / run.rate * 1000 if run.rate else math.nan

    ratios: dict[str, list[float]] = {"get": [], "list": []}
    for n in (1, 2):
        cpu: dict[str, dict[str, float]] = {}
        for code in ("now", "before") if n == 1 else ("before", "now"):  # the order they ran
            g, li = r[f"cmp_{code}_get_{n}"], r[f"cmp_{code}_list_{n}"]
            cpu[code] = {"get": per(g, API), "list": per(li, API)}
            add(
                f"| {n} | {'this code' if code == 'now' else f'{rev} (`{commit}`)'} | "
                f"{_probe(r, f'cmp_{code}_get_{n}')} | {number(g.rate)} | "
                f"{number(per(g, API), 3)} | {number(per(g, PG), 3)} | {number(li.rate)} | "
                f"{number(per(li, API), 3)} | {number(per(li, PG), 3)} |"
            )
        for kind, values in ratios.items():
            values.append(cpu["now"][kind] / cpu["before"][kind])
    add("")
    add(
        "The api's CPU per request, this code ÷ "
        f"{rev}, per turn: GET by id {', '.join(number(x, 2) for x in ratios['get'])}; the load "
        f"list {', '.join(number(x, 2) for x in ratios['list'])} (below 1: this code costs less)."
    )
    add("")


def render(r: dict[str, Any]) -> str:  # noqa: PLR0912, PLR0915 -- a report, section by section
    args = r["args"]
    ds: api_data.Dataset = r["dataset"]
    lines: list[str] = []
    add = lines.append
    add("# orderstate REST API benchmark results")
    add("")
    add(
        f"Run {r['started']:%Y-%m-%d %H:%M} UTC, {r['wall_s'] / 60:.1f} minutes in all (data "
        f"generation {ds.total_s:.0f} s), N = {ds.orders:,} orders over {ds.shops} shops. "
        'Written by `make bench-api` (bench/api.py); bench/README.md ("The API benchmark") '
        "says what each figure means and how it is measured."
    )
    add("")
    add(summary(r))
    add("")
    add("## Machine and versions")
    add("")
    add("| | |")
    add("|---|---|")
    for k, v in r["machine"].items():
        add(f"| {k} | {v} |")
    add(f"| host load before the run | {r['load_before']:.2f} cores |")
    if "load_before_runs" in r:
        add(f"| host load before the load runs | {r['load_before_runs']:.2f} cores |")
    add("")
    add("## Commands")
    add("")
    add("```")
    add("make bench-api    # make install services-up, then:")
    add(" ".join([".venv/bin/python bench/api.py", *(shlex.quote(a) for a in r["argv"])]))
    add("# the API under test, its own process (database = the run's scratch database):")
    add(
        "ORDERSTATE_DATABASE_URL=postgresql://…/bench_<run>_api ORDERSTATE_API_PORT=<free port> "
        f"ORDERSTATE_LOG_LEVEL=WARNING BENCH_CEILING_SHOP={args.shop} "
        ".venv/bin/python bench/api_ceiling.py api --ops-port 0"
    )
    add("```")
    add("")
    add(
        "`bench/api_ceiling.py` runs the console command of `orderstate api` (`orderstate.cli`), "
        "so the same settings, event loop, pool and uvicorn configuration, with one ASGI layer "
        "added in front of the app that `serve_api` builds: it answers "
        "`/bench/ceiling/{order_id}` itself (the ceiling, below) and passes every other "
        "request on to the API unchanged (one path comparison and a counter per request)."
    )
    add("")
    add(
        f"Requests carry the legacy `API-KEY` header of shop `{args.shop}`. GET by id asks for "
        f"random existing orders of that shop (e.g. `{r.get('get_path', '')}`), the ceiling for "
        f"the same orders in the same order (`{r.get('ceiling_path', '')}`); the load list is "
        f"`{r.get('list_path', '')}`."
    )
    add("")
    add("## Data set")
    add("")
    add(
        f"{ds.orders:,} orders, {ds.shops} shops of {ds.orders // ds.shops:,}, generated by one "
        "`INSERT ... SELECT FROM generate_series` (bench/api_data.py) into the migrated schema; "
        f"order dates over the year before {ds.end:%Y-%m-%d}. Timings: insert {ds.insert_s:.1f} s, "
        f"building the indexes {ds.index_s:.1f} s, VACUUM ANALYZE and CHECKPOINT "
        f"{ds.analyze_s:.1f} s. "
        f"Table {ds.table_mb:,.0f} MB; indexes: "
        + ", ".join(f"{k} {v:,.0f} MB" for k, v in ds.indexes_mb.items())
        + ". A sample of 500 views parses as `OrderView` and agrees with its row."
    )
    add("")
    add("One shop's mix (every shop has the same):")
    add("")
    for name, counts in ds.counts.items():
        total = sum(counts.values()) or 1
        add(f"- {name}: " + ", ".join(f"{k} {v:,} ({v / total:.1%})" for k, v in counts.items()))
    add("")
    _speed_section(r, add)
    add("## Load runs")
    add("")
    add(
        "CPU is from /proc over each run: the API process, every PostgreSQL process (postmaster "
        "and its children), the bench process (the load generator), and the rest of the host. "
        f"The machine has {r['machine']['cores (nproc)']} cores, shared by all of them."
    )
    add("")
    for key in RUNS:
        if key in r:
            _run_section(r, key, add)
    if "get_closed_2" in r:
        _ceiling_section(r, add)
    if r.get("filter_runs"):
        _filters_section(r, add)
    if "before_rev" in r:
        _before_section(r, add)
    if "client_us" in r:
        add(
            f"Generator calibration: against a trivial server in the bench process (fixed 1 KiB "
            f"answers, 4 connections), client and server together use {r['client_us']:.0f} µs "
            "CPU per request: the most the generator itself costs per request."
        )
        add("")
    if r.get("api_hwm_kb"):
        add(f"API process peak RSS (VmHWM) after the runs: {r['api_hwm_kb'] / 1024:,.0f} MiB.")
        add("")
    if "explain" in r:
        _explain_section(r, add)
    if r.get("cleanup_problems"):
        add("## Clean-up problems")
        add("")
        for problem in r["cleanup_problems"]:
            add(f"- {problem}")
        add("")
    return "\n".join(lines)


def figures(r: dict[str, Any]) -> dict[str, Any]:
    """The headline numbers as plain JSON, kept beside the run's logs."""
    out: dict[str, Any] = {"started": r["started"].isoformat(), "wall_s": r["wall_s"]}
    out["best_recorded_probe_us"] = r.get("best_probe")
    out["speed"] = {
        key: {
            "title": s.title,
            "before_us": s.before_us,
            "after_us": s.after_us,
            "other_processes_cores": s.others_cores,
            "at_best_recorded_speed": at_best(r, key),
        }
        for key, s in r.get("speed", {}).items()
    }
    for key in RUNS:
        if key in r:
            run: LoadResult = r[key]
            out[key] = {
                "rate": run.rate,
                "p50_ms": percentile(run.latencies_ms, 50),
                "p99_ms": percentile(run.latencies_ms, 99),
                "errors": run.errors,
                "cpu": run.cpu,
                "at_best_recorded_speed": at_best(r, key),
            }
    if "get_closed_2" in r:
        out["get_over_ceiling"] = {
            "pair_1": ceiling_ratio(r, 1),
            "pair_2": ceiling_ratio(r, 2),
            "both": ceiling_ratio(r),
            "target": TARGET_RATIO,
        }
        out["served"] = r.get("served")
    if r.get("filter_runs"):
        out["list_filters"] = {
            f.label: {
                "path": f.path,
                "rate": f.result.rate,
                "p50_ms": percentile(f.result.latencies_ms, 50),
                "p99_ms": percentile(f.result.latencies_ms, 99),
                "errors": f.result.errors,
                "statuses": {str(k): v for k, v in f.result.statuses.items()},
                "at_best_recorded_speed": at_best(r, f.key),
                "x_total_count": f.total_count,
                "x_total_count_estimated": f.total_estimated,
                "met": _filter_ok(f),
            }
            for f in r["filter_runs"]
        }
    if "explain" in r:
        out["explain"] = {
            c.case.label: {
                "count": [c.count.summary, c.count.execution_ms],
                **{o: [p.summary, p.execution_ms] for o, p in c.pages.items()},
            }
            for c in r["explain"]
        }
    return out
