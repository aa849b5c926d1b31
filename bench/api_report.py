"""bench/results-api.md from one `make bench-api` run: the summary table first, then the data
set, every load run, the CPU of each process, and the EXPLAIN matrix."""

import math
import shlex
from pathlib import Path
from typing import Any

import api_data
import api_explain
import infra
from api_load import LoadResult
from figures import number, percentile, verdict

RESULTS = Path(__file__).with_name("results-api.md")
TARGET_P99_MS, TARGET_RATE = 10.0, 500.0
API, PG, CLIENT = "orderstate api", "PostgreSQL (every backend)", "bench client (this process)"


def _ms(values: list[float], q: float) -> str:
    return number(percentile(values, q), 1)


RUNS = (
    "get_paced",
    "get_closed",
    "list_closed",
    "list_paced",
)


def _label(r: dict[str, Any], key: str) -> str:
    run: LoadResult = r[key]
    what = "GET /v2/orders/{order_id}" if key.startswith("get") else "filtered list"
    if run.kind == "paced":
        auto = " (half the closed-loop rate)" if key == "list_paced" and r["list_rate_auto"] else ""
        return f"{what}, paced at {run.target_rate:g} req/s{auto}, {run.connections} connections"
    return f"{what}, closed loop, {run.connections} connections"


def summary(r: dict[str, Any]) -> str:
    lines = [
        "| measure | requests/s | p50 / p99 latency | target |",
        "|---|---|---|---|",
    ]
    for key in RUNS:
        if key not in r:
            continue
        run: LoadResult = r[key]
        p99 = percentile(run.latencies_ms, 99)
        target = ""
        if key == "get_paced":
            ok = p99 <= TARGET_P99_MS and run.rate >= TARGET_RATE * 0.98 and not run.errors
            target = f"p99 ≤ {TARGET_P99_MS:g} ms at {TARGET_RATE:g} req/s: {verdict(ok)}"
        errors = f" ({run.errors:,} errors)" if run.errors else ""
        lines.append(
            f"| {_label(r, key)} | {number(run.rate)}{errors} | "
            f"{_ms(run.latencies_ms, 50)} / **{_ms(run.latencies_ms, 99)} ms** | {target} |"
        )
    if "explain" in r:
        results: list[api_explain.CaseResult] = r["explain"]
        plans = sum(len(c.pages) + 1 for c in results)
        bad = len(r["explain_problems"])
        lines.append(
            f"| EXPLAIN: {plans} list statements (page and count), every filter x order_by | | "
            f"{bad} with a sequential scan, a sort of > {api_explain.BIG_SORT_ROWS:,} rows or "
            f"a scan discarding > {api_explain.UNBOUNDED_ROWS:,} rows | "
            f"index-bounded scans only: {verdict(bad == 0)} |"
        )
    return "\n".join(lines)


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
        "bytes per response |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|")
    statuses = ", ".join(f"{s}: {n:,}" for s, n in sorted(run.statuses.items()) if s != 200)
    add(
        f"| {run.requests:,} | {run.seconds:.1f} | {number(run.rate)} | {_ms(lat, 50)} | "
        f"{_ms(lat, 90)} | {_ms(lat, 99)} | {_ms(lat, 99.9)} | {number(max(lat), 1)} | "
        f"{statuses or 0} | {number(run.bytes_in / run.requests if run.requests else math.nan)} |"
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


def render(r: dict[str, Any]) -> str:  # noqa: PLR0915 -- a report, section by section
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
        "ORDERSTATE_LOG_LEVEL=WARNING .venv/bin/orderstate api"
    )
    add("```")
    add("")
    add(
        f"Requests carry the legacy `API-KEY` header of shop `{args.shop}`. GET by id asks for "
        f"random existing orders of that shop (e.g. `{r.get('get_path', '')}`); the list is "
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
    for key in RUNS:
        if key in r:
            run: LoadResult = r[key]
            out[key] = {
                "rate": run.rate,
                "p50_ms": percentile(run.latencies_ms, 50),
                "p99_ms": percentile(run.latencies_ms, 99),
                "errors": run.errors,
                "cpu": run.cpu,
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
