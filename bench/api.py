"""`make bench-api`: the REST API's read path with 1,000,000 orders in PostgreSQL.

  1. a scratch database, migrated, filled in SQL with N orders over 10 shops (bench/api_data.py)
  2. EXPLAIN ANALYZE of the list statements for every documented filter x every order_by
     (bench/api_explain.py)
  3. `orderstate api` as its own process, started through bench/api_ceiling.py: the same
     command, app, uvicorn and pool, plus GET /bench/ceiling/{order_id} (the same primary-key
     read answered with the stored JSON, nothing else) and GET /bench/floor/{order_id} (the
     same as a FastAPI route of the app); an API key of one shop (legacy API-KEY header)
  4. GET /v2/orders/{order_id}: paced open loop at 1,000 requests/s, then closed loop in
     turns with the ceiling and the floor: ceiling, floor, GET, ceiling, floor, GET
  5. GET /v2/orders?filters[...]: the load list closed loop, then paced at a rate it
     sustains; then every filter of the EXPLAIN matrix paced at 100 requests/s
     (bench/api_load.py: raw asyncio HTTP/1.1 keep-alive client)
  6. a table, and bench/results-api.md (bench/api_report.py)

Before (and after) each load run the speed probe of `make bench` (hotpaths.speed_probe) is
timed, so that figures of a slow moment of the machine can be told from a slower API.

The database and the API process are the run's own; both are removed at the end, also after
a failure or Ctrl-C. See bench/README.md, "The API benchmark".
"""

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

import asyncpg

import api_ceiling
import api_data
import api_explain
import api_load
import api_report
import hotpaths
import infra
import probe_record
from figures import percentile
from orderstate.api.keys import create_key
from orderstate.settings import Settings
from tests.support.processes import free_port

LAUNCHER = Path(api_ceiling.__file__).resolve()
LIST_QUERY = [
    ("filters[state]", "paid"),
    ("filters[tag]", "channel:web"),
    ("order_by", "-updated_at"),
    ("limit", "20"),
]


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--shops", type=int, default=10)
    parser.add_argument("--shop", default="shop-03", help="the shop whose key makes the requests")
    parser.add_argument("--get-rate", type=float, default=1000.0, help="paced GET by id, req/s")
    parser.add_argument(
        "--list-rate",
        type=float,
        default=None,
        help="paced list, req/s (default: half the closed-loop rate, rounded down to 10)",
    )
    parser.add_argument(
        "--list-filter-rate",
        type=float,
        default=100.0,
        help="paced list for every filter of the EXPLAIN matrix, req/s",
    )
    parser.add_argument(
        "--list-filter-seconds", type=float, default=10.0, help="each filter's paced run"
    )
    parser.add_argument(
        "--list-filter-warmup", type=float, default=1.0, help="s of warm-up before each filter"
    )
    parser.add_argument("--seconds", type=float, default=30.0, help="each paced run")
    parser.add_argument(
        "--closed-seconds",
        type=float,
        default=15.0,
        help="each closed run (ceiling and GET by id twice each, the load list once)",
    )
    parser.add_argument("--warmup-seconds", type=float, default=5.0)
    parser.add_argument("--paced-connections", type=int, default=32)
    parser.add_argument("--closed-connections", type=int, default=4)
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max s to wait for idle")
    parser.add_argument("--skip-explain", action="store_true")
    parser.add_argument(
        "--before",
        metavar="REV",
        help="then compare with the code of this git revision in the same run: GET by id and "
        "the load list, closed loop, this code and REV's in turns, twice",
    )
    parser.add_argument("--no-write", action="store_true", help="do not write results-api.md")
    return parser.parse_args()


def _sustainable(closed_rate: float) -> float:
    """Half the closed-loop rate, rounded down to a round number (10s above 20/s)."""
    half = closed_rate / 2
    return max(1.0, half // 10 * 10 if half >= 20 else float(int(half)))


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


async def _wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path) -> float:
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if process.poll() is not None:
            raise RuntimeError(f"orderstate api exited with {process.returncode}; see {log}")
        try:
            conn = await api_load.Connection.open("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.1)
            continue
        try:
            status, _ = await conn.exchange(api_load.request("/v2/openapi.json", "127.0.0.1", {}))
        finally:
            await conn.close()
        if status == 200:
            return time.monotonic() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"orderstate api not healthy within 60 s; see {log}")


class ApiBench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ends = infra.endpoints()
        self.scratch = infra.Scratch(self.ends)
        self.logs = infra.REPO / ".local" / "bench" / f"api-{self.scratch.run_id}"
        self.r: dict[str, Any] = {
            "args": args,
            "argv": sys.argv[1:],
            "logs": self.logs,
            # load run key -> the speed probe timed before and after it (api_report.Speed)
            "speed": {},
        }
        self.results: dict[str, api_load.LoadResult] = {}  # every measured load run by key
        self.api: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.port = 0
        self.headers: dict[str, str] = {}

    async def data(self) -> None:
        args, r = self.args, self.r
        with _phase(f"generate {args.orders:,} orders over {args.shops} shops (in SQL)"):
            self.url = await self.scratch.database("api")
            end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            ds = await api_data.generate(self.url, orders=args.orders, shops=args.shops, end=end)
            r["dataset"] = ds
            print(
                f"   insert {ds.insert_s:.1f} s, indexes {ds.index_s:.1f} s, vacuum analyze "
                f"{ds.analyze_s:.1f} s; table {ds.table_mb:,.0f} MB"
            )

    async def explain(self) -> None:
        r = self.r
        with _phase("EXPLAIN ANALYZE: every documented filter x every order_by"):
            started = time.monotonic()
            r["explain"] = await api_explain.matrix(self.url, self.args.shop, r["dataset"].end)
            r["explain_s"] = time.monotonic() - started
            r["explain_problems"] = api_explain.problems(r["explain"])
            for problem in r["explain_problems"]:
                print(f"   {problem}")
            if not r["explain_problems"]:
                print("   index scans only, no big sorts")

    async def start_api(self, *, new_key: bool = True, services: Path | None = None) -> None:
        """``services``: run the orderstate package of that folder (an older revision's)."""
        args, r = self.args, self.r
        with _phase("start orderstate api (through bench/api_ceiling.py)"):
            if new_key:
                settings = Settings()
                conn = await asyncpg.connect(self.url)
                try:
                    key = await create_key(
                        conn,
                        shop_id=args.shop,
                        label="bench-api",
                        pepper=settings.api_key_pepper.get_secret_value(),
                        now=datetime.now(UTC),
                    )
                finally:
                    await conn.close()
                self.headers = {"API-KEY": key.plain}
            self.port = free_port()
            env = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATE_")}
            env.update(
                {
                    "ORDERSTATE_DATABASE_URL": self.url,
                    "ORDERSTATE_API_PORT": str(self.port),
                    "ORDERSTATE_LOG_LEVEL": "WARNING",
                    "ORDERSTATE_LOG_FORMAT": "json",
                    api_ceiling.SHOP_ENV: args.shop,
                }
            )
            if services is not None:
                env["PYTHONPATH"] = str(services)
            log = self.logs / "api.log"
            command = [str(infra.PYTHON), str(LAUNCHER), "api", "--ops-port", "0"]
            self.api = infra.start(command, env, log)
            r["api_start_s"] = await _wait_healthy(self.port, self.api, log)
            print(
                f"   pid {self.api.pid} on 127.0.0.1:{self.port}, healthy after "
                f"{r['api_start_s']:.1f} s"
            )

    def _requests(self, paths: list[str]) -> list[bytes]:
        host = f"127.0.0.1:{self.port}"
        return [api_load.request(p, host, self.headers) for p in paths]

    async def _ask(self, raw: bytes) -> tuple[int, bytes, bytes]:
        """One request on a connection of its own: status, body, and the answer's head."""
        conn = await api_load.Connection.open("127.0.0.1", self.port)
        try:
            status, body = await conn.exchange(raw)
        finally:
            await conn.close()
        return status, body, conn.last_head

    async def _check(self, raw: bytes, what: str) -> int:
        status, body, _ = await self._ask(raw)
        if status != 200:
            raise RuntimeError(f"{what}: HTTP {status}: {body[:300]!r}")
        return len(body)

    async def _served(self) -> dict[str, int]:
        """What the API process counted (bench/api_ceiling.py): its pid, the requests it
        answered on the ceiling path and those it passed on to the API."""
        status, body, _ = await self._ask(self._requests([api_ceiling.SERVED])[0])
        if status != 200:
            raise RuntimeError(f"{api_ceiling.SERVED}: HTTP {status}: {body[:300]!r}")
        served: dict[str, int] = json.loads(body)
        return served

    @contextlib.contextmanager
    def _load_phase(self, key: str, title: str) -> Iterator[None]:
        """A load run's phase: infra.phase times the speed probe first (as in `make bench`);
        it is timed again when the run is over, since a probe is a moment and a run is not."""
        with infra.phase(title):
            before = infra.SPEED[-1][1]
            self.r["speed"][key] = api_report.Speed(key, title, before)
            yield
            speed = self.r["speed"][key]
            speed.after_us = hotpaths.speed_probe()
            result = self.results.get(key)
            if result is not None:
                speed.others_cores = result.cpu.get(infra.OTHER, math.nan)
            print(
                f"   speed probe {speed.before_us:.1f} µs before, {speed.after_us:.1f} after; "
                f"other processes {speed.others_cores:.2f} cores"
            )

    def _meter(self) -> infra.CpuMeter:
        assert self.api is not None  # noqa: S101
        return infra.CpuMeter(
            {
                "orderstate api": (self.api.pid, False),
                "PostgreSQL (every backend)": (self.ends.postmaster_pid, True),
                "bench client (this process)": (os.getpid(), False),
            }
        )

    async def _measured(self, key: str, label: str, run: Any) -> api_load.LoadResult:
        meter = self._meter()
        meter.start()
        result: api_load.LoadResult = await run
        result.cpu = meter.stop()
        self.results[key] = result
        p50, p99 = (percentile(result.latencies_ms, q) for q in (50, 99))
        print(
            f"   {label}: {result.rate:,.0f} req/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms, "
            f"{result.errors} errors; CPU api {result.cpu['orderstate api']:.2f}, "
            f"postgres {result.cpu['PostgreSQL (every backend)']:.2f}, client "
            f"{result.cpu['bench client (this process)']:.2f} cores",
            flush=True,
        )
        return result

    def _paced(self, reqs: list[bytes], rate: float, seconds: float) -> Any:
        return api_load.paced(
            "127.0.0.1",
            self.port,
            reqs,
            rate=rate,
            seconds=seconds,
            connections=self.args.paced_connections,
        )

    def _closed(self, reqs: list[bytes]) -> Any:
        return api_load.closed(
            "127.0.0.1",
            self.port,
            reqs,
            seconds=self.args.closed_seconds,
            connections=self.args.closed_connections,
        )

    async def get_by_id(self) -> None:
        args, r = self.args, self.r
        ids = await api_data.order_ids(self.url, args.shop)
        rng = random.Random(1)
        chosen = [rng.choice(ids) for _ in range(50_000)]
        reqs = self._requests([f"/v2/orders/{i}" for i in chosen])
        # The same orders in the same order, the same headers (the ceiling ignores them).
        ceiling = self._requests([f"{api_ceiling.CEILING}{i}" for i in chosen])
        floor = self._requests([f"{api_ceiling.FLOOR}{i}" for i in chosen])
        r["get_bytes"] = await self._check(reqs[0], "GET by id")
        r["ceiling_bytes"] = await self._check(ceiling[0], "ceiling")
        await self._check(floor[0], "floor")
        r["get_path"] = f"/v2/orders/{ids[0]}"
        r["ceiling_path"] = f"{api_ceiling.CEILING}{ids[0]}"
        with self._load_phase(
            "get_paced", f"GET /v2/orders/{{order_id}}: paced {args.get_rate:g} req/s"
        ):
            await self._paced(reqs[-5000:], args.get_rate, args.warmup_seconds)
            r["get_paced"] = await self._measured(
                "get_paced", "paced", self._paced(reqs, args.get_rate, args.seconds)
            )
        # The ceiling's statement is prepared once per pool connection, as the API's are.
        await self._paced(ceiling[-5000:], args.get_rate, min(args.warmup_seconds, 2.0))
        await self._paced(floor[-5000:], args.get_rate, min(args.warmup_seconds, 2.0))
        before = await self._served()
        for n in (1, 2):
            for kind, title, requests in (
                ("ceiling", f"{api_ceiling.CEILING}{{order_id}} (the ceiling)", ceiling),
                ("floor", f"{api_ceiling.FLOOR}{{order_id}} (the framework floor)", floor),
                ("get", "GET /v2/orders/{order_id}", reqs),
            ):
                key = f"{kind}_closed_{n}"
                with self._load_phase(
                    key, f"{title}: closed loop {n} of 2, {args.closed_connections} conns"
                ):
                    r[key] = await self._measured(key, "closed", self._closed(requests))
        after = await self._served()
        r["served"] = {
            "launched_pid": self.api.pid if self.api is not None else None,
            "before": before,
            "after": after,
            "ceiling_sent": sum(r[f"ceiling_closed_{n}"].requests for n in (1, 2)),
            "get_sent": sum(r[f"get_closed_{n}"].requests for n in (1, 2)),
            "floor_sent": sum(r[f"floor_closed_{n}"].requests for n in (1, 2)),
        }
        ratio = api_report.ceiling_ratio(r)
        print(
            f"\n   GET closed loop / ceiling closed loop: {ratio:.2f}; both answered by pid "
            f"{after['pid']} (started as {self.api.pid if self.api else '?'})"
        )

    async def filtered_list(self) -> None:
        args, r = self.args, self.r
        path = "/v2/orders?" + urlencode(LIST_QUERY)
        r["list_path"] = path
        reqs = self._requests([path])
        r["list_bytes"] = await self._check(reqs[0], "list")
        with self._load_phase(
            "list_closed", f"GET {path}: closed loop, {args.closed_connections} conns"
        ):
            r["list_closed"] = await self._measured("list_closed", "closed", self._closed(reqs))
        rate = args.list_rate or _sustainable(r["list_closed"].rate)
        r["list_rate_auto"] = args.list_rate is None
        with self._load_phase("list_paced", f"GET {path}: paced {rate:g} req/s"):
            r["list_paced"] = await self._measured(
                "list_paced", "paced", self._paced(reqs, rate, args.seconds)
            )

    async def list_filters(self) -> None:
        """The list for every filter of the EXPLAIN matrix, with the default order_by, paced."""
        args, r = self.args, self.r
        rate = args.list_filter_rate
        runs: list[api_report.FilterRun] = []
        for case in api_explain.cases(r["dataset"].end):
            query = [
                *parse_qsl(case.query),
                ("order_by", api_explain.DEFAULT_ORDER_BY),
                ("limit", str(api_explain.PAGE)),
            ]
            path = "/v2/orders?" + urlencode(query)
            reqs = self._requests([path])
            status, body, head = await self._ask(reqs[0])
            key = f"filter: {case.label}"
            with self._load_phase(key, f"list, {case.label}: paced {rate:g} req/s"):
                print(
                    f"   {path}: HTTP {status}, X-Total-Count {_header(head, 'x-total-count')} "
                    f"(estimated: {_header(head, 'x-total-count-estimated')})"
                )
                await self._paced(reqs, rate, args.list_filter_warmup)
                result = await self._measured(
                    key, "paced", self._paced(reqs, rate, args.list_filter_seconds)
                )
            runs.append(
                api_report.FilterRun(
                    key=key,
                    label=case.label,
                    path=path,
                    result=result,
                    check_status=status,
                    check_body=body[:300].decode(errors="replace") if status != 200 else "",
                    total_count=_header(head, "x-total-count"),
                    total_estimated=_header(head, "x-total-count-estimated"),
                )
            )
        r["filter_runs"] = runs

    async def compare_before(self, rev: str) -> None:
        """GET by id and the load list, closed loop, on this code and on ``rev``'s, in turns
        (this code, rev, then rev, this code), each on a freshly started api process: the same
        database, key, requests and machine, so the ratio holds when the machine drifts, and
        neither arm always runs first."""
        args, r = self.args, self.r
        folder = Path(tempfile.mkdtemp(prefix="bench-api-before-"))
        try:
            old = infra.unpack_services(rev, folder) / "services"
            r["before_commit"] = infra.git("rev-parse", "--short", rev)
            ids = await api_data.order_ids(self.url, args.shop)
            rng = random.Random(1)
            gets = [f"/v2/orders/{rng.choice(ids)}" for _ in range(50_000)]
            lists = [r["list_path"]]
            arms: list[tuple[str, Path | None]] = [("now", None), ("before", old)]
            for n in (1, 2):
                for code, services in arms if n == 1 else arms[::-1]:
                    self._stop_api()
                    await self.start_api(new_key=False, services=services)
                    reqs, list_reqs = self._requests(gets), self._requests(lists)
                    # Warm: every pool connection prepares its statements.
                    await self._paced(reqs[-2000:], args.get_rate, 2.0)
                    for kind, what in (("get", reqs), ("list", list_reqs)):
                        key = f"cmp_{code}_{kind}_{n}"
                        title = f"{'this code' if code == 'now' else rev}: {kind}, closed loop {n}"
                        with self._load_phase(key, title):
                            r[key] = await self._measured(key, "closed", self._closed(what))
            r["before_rev"] = rev
        finally:
            self._stop_api()
            shutil.rmtree(folder, ignore_errors=True)

    def _stop_api(self) -> None:
        if self.api is not None:
            infra.stop(self.api)
            self.api = None

    async def client_overhead(self) -> None:
        with _phase("client overhead against a trivial in-process server"):
            reqs = self._requests([self.r["get_path"]])
            self.r["client_us"] = await api_load.client_overhead(reqs)
            print(f"   {self.r['client_us']:.0f} µs CPU per request (client + trivial server)")

    def api_memory(self) -> None:
        if self.api is not None:
            self.r["api_hwm_kb"] = infra.status_kb(self.api.pid, "VmHWM")

    async def cleanup(self) -> None:
        with _phase("clean up: stop orderstate api (by pid), drop the scratch database"):
            if self.api is not None:
                self.r["api_exit"] = infra.stop(self.api)
                self.api = None
            problems = await self.scratch.drop_databases()
            self.r["cleanup_problems"] = problems
            for problem in problems:
                print(f"   cleanup: {problem}")


def _header(head: bytes, name: str) -> str | None:
    """A header's value in an answer's head, or None."""
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode(errors="replace")
    return None


@contextlib.contextmanager
def _phase(title: str) -> Iterator[None]:
    started = time.monotonic()
    print(f"\n== {title}", flush=True)
    yield
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


async def _machine(ends: infra.Endpoints) -> dict[str, str]:
    found = await infra.machine(ends)
    for name in ("aiokafka", "faust-streaming"):
        found.pop(name, None)
    for package in ("fastapi", "starlette", "uvicorn", "h11", "httptools", "uvloop"):
        found[package] = _version(package)
    conn = await asyncpg.connect(ends.database_url)
    try:
        for name in ("work_mem", "effective_cache_size", "random_page_cost", "jit"):
            found[f"PostgreSQL {name}"] = await conn.fetchval(f"SHOW {name}")
    finally:
        await conn.close()
    return found


async def main(args: argparse.Namespace) -> int:
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    bench = ApiBench(args)
    r = bench.r
    bench.logs.mkdir(parents=True, exist_ok=True)
    print(f"bench-api run {bench.scratch.run_id}; logs in {bench.logs}")
    r["machine"] = await _machine(bench.ends)
    best = api_report.best_recorded_probe()
    r["best_probe"], r["best_probe_seen"] = (None, None) if best is None else (best.us, best.seen)
    with _phase("wait for a quiet machine (other sessions may share it)"):
        r["load_before"] = await infra.wait_for_quiet(max_wait_s=args.quiet_wait)
        print(f"   {r['load_before']:.2f} cores busy before the run")
    r["started"] = datetime.now(UTC)
    started = time.monotonic()
    timeline_stop = asyncio.Event()
    timeline = asyncio.create_task(
        infra.cpu_timeline(bench.logs / "cpu-timeline.txt", timeline_stop)
    )
    try:
        await bench.data()
        if not args.skip_explain:
            await bench.explain()
        with _phase("wait for a quiet machine before the load runs"):
            r["load_before_runs"] = await infra.wait_for_quiet(max_wait_s=30)
            print(f"   {r['load_before_runs']:.2f} cores busy")
        await bench.start_api()
        await bench.get_by_id()
        await bench.filtered_list()
        await bench.list_filters()
        bench.api_memory()
        await bench.client_overhead()
        if args.before:
            await bench.compare_before(args.before)
    finally:
        timeline_stop.set()
        await timeline
        await bench.cleanup()
    r["wall_s"] = time.monotonic() - started
    print()
    print(api_report.summary(r))
    if not args.no_write:
        api_report.RESULTS.write_text(api_report.render(r))
        (bench.logs / "figures.json").write_text(json.dumps(api_report.figures(r), indent=2))
        print(f"\nwrote {api_report.RESULTS.relative_to(infra.REPO)}")
        probes = api_report.run_probes(r)
        if probes:
            run = f"make bench-api at {infra.git('rev-parse', '--short', 'HEAD')}"
            probe_record.note_run(min(probes), run)
    print(f"run took {timedelta(seconds=round(r['wall_s']))}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(_args())))
