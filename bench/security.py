"""`make bench-security`: hostile input at volume, and what a flood of bad credentials costs.

  1. decode: hypothesis-generated hostile records (tests/support/hostile_records.py, every
     kind) through ``decode_record``: each decodes or is one DecodeError, nothing else
  2. worker: as many through a running worker on the real broker; before and after them the
     worker's throughput on valid orders; every record must end as malformed or decided
  3. rest: schemathesis, every phase (stateful included), as one shop, with a second shop's
     orders beside it (tests/support/rest_fuzz.py): 5xx, reads and writes across shops
  4. flood: `orderstate api` as a process; good requests (a valid bearer token, paced) alone,
     then with a paced flood of bad tokens and keys from many addresses (another process);
     p50/p99 of the good ones. ``--before REV`` measures the same against the code of REV.

Figures go to bench/security-results.md. Kafka and PostgreSQL are the test harness's (the
native services, started if needed); the run's database and topics are removed at the end.
"""

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import httpx  # noqa: E402
from pydantic import SecretStr  # noqa: E402

from orderstate.events.decode import decode_record  # noqa: E402
from orderstate.events.errors import DecodeError  # noqa: E402
from orderstate.events.topics import TopicRole  # noqa: E402
from orderstate.settings import Settings  # noqa: E402
from tests.integration.test_hostile_records import decided_so_far, generate  # noqa: E402
from tests.support import databases, kafka  # noqa: E402
from tests.support.api import order_body, plain_api_key  # noqa: E402
from tests.support.hostile_records import valid_record  # noqa: E402
from tests.support.infra import provide  # noqa: E402
from tests.support.pipeline import produce, running, settings_for, wait_for  # noqa: E402
from tests.support.rest_fuzz import VICTIM, fuzz, rest_api, shop_rows  # noqa: E402

RESULTS = REPO / "bench" / "security-results.md"
# Each part's figures are merged into this file as soon as the part is done.
RAW = REPO / ".local" / "security-bench.json"


def _keep(found: dict[str, Any]) -> None:
    RAW.parent.mkdir(exist_ok=True)
    kept = json.loads(RAW.read_text()) if RAW.exists() else {}
    kept.update(json.loads(json.dumps(found, default=str)))
    RAW.write_text(json.dumps(kept, indent=2))


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--rest-examples", type=int, default=150)
    parser.add_argument("--rest-seconds", type=int, default=300)
    parser.add_argument("--good-rate", type=float, default=50.0, help="good requests/s")
    parser.add_argument("--flood-rate", type=float, default=500.0, help="bad requests/s")
    parser.add_argument(
        "--flood-seconds", type=float, default=60.0, help="good requests beside the flood, in all"
    )
    parser.add_argument(
        "--flood-rounds", type=int, default=4, help="alone and flooded windows, taking turns"
    )
    parser.add_argument("--before", help="also measure the flood against this git revision")
    parser.add_argument("--only", choices=["decode", "worker", "rest", "flood"], action="append")
    parser.add_argument("--flooder", nargs=3, metavar=("BASE", "KEY_ID", "SECONDS"))
    parser.add_argument("--render", type=Path, help="write the results page from a run's JSON")
    return parser.parse_args()


# ---- 1. decode -------------------------------------------------------------------------------


def decode_fuzz(count: int) -> dict[str, Any]:
    started = time.perf_counter()
    records = generate(count, seed=1, max_bytes=1_100_000, shop="fuzz-shop")
    generated = time.perf_counter() - started
    outcomes: Counter[str] = Counter()
    crashes: list[str] = []
    started = time.perf_counter()
    for hostile in records:
        try:
            decode_record(
                key=hostile.key,
                value=hostile.value,
                headers=hostile.headers,
                topic_role=TopicRole.ORDERS_IN,
            )
            outcomes[f"{hostile.kind}/decoded"] += 1
        except DecodeError:
            outcomes[f"{hostile.kind}/malformed"] += 1
        except Exception as exc:  # the property under test: nothing else ever escapes
            crashes.append(f"{hostile.kind}: {type(exc).__name__}: {exc}"[:300])
    return {
        "records": len(records),
        "outcomes": outcomes,
        "crashes": crashes,
        "generate_s": generated,
        "decode_s": time.perf_counter() - started,
    }


# ---- 2. worker -------------------------------------------------------------------------------


async def _throughput(settings: Settings, run: Any, shop: str, count: int) -> float:
    records = [valid_record(shop, f"T-{n}", f"{shop}-{n}") for n in range(count)]
    started = time.perf_counter()
    await produce(settings.kafka_bootstrap_servers, settings.topic_orders, records)

    async def done() -> bool:
        async with run.pool.acquire() as conn:
            found = await conn.fetchval("SELECT count(*) FROM orders WHERE shop_id = $1", shop)
        return bool(found == count)

    await wait_for(done, timeout_s=600)
    return count / (time.perf_counter() - started)


async def worker_fuzz(count: int, endpoints: Any, template: str) -> dict[str, Any]:
    name = await databases.clone_database(endpoints.database_url, template)
    url = databases.with_database(endpoints.database_url, name)
    topics = kafka.unique_topics()
    await kafka.create_topics(endpoints.kafka_bootstrap, topics.all)
    try:
        # Huge strings up to 16 KiB here (64 times the longest field); decode_fuzz goes past
        # the 1 MiB limit, which the broker would refuse to carry 100,000 times over.
        records = generate(count, seed=2, max_bytes=16_384, shop="fuzz-shop")
        settings = settings_for(endpoints.kafka_bootstrap, url, topics, batch_max_wait_ms=50)
        async with running(settings) as run:
            before_rate = await _throughput(settings, run, "before-shop", 5_000)
            before = decided_so_far()
            started = time.perf_counter()
            await produce(endpoints.kafka_bootstrap, topics.orders, [r.record for r in records])

            async def all_decided() -> bool:
                return decided_so_far() - before >= len(records)

            await wait_for(all_decided, timeout_s=3600)
            hostile_s = time.perf_counter() - started
            decided = decided_so_far() - before
            after_rate = await _throughput(settings, run, "after-shop", 5_000)
            alive = not any(t.done() for t in run.tasks)
            async with run.pool.acquire() as conn:
                malformed = await conn.fetchval(
                    "SELECT count(*) FROM rejected_events WHERE reason = 'malformed'"
                )
    finally:
        await kafka.delete_topics(endpoints.kafka_bootstrap, topics.all)
        await databases.drop_database(endpoints.database_url, name)
    return {
        "records": len(records),
        "kinds": Counter(r.kind for r in records),
        "decided": decided,
        "malformed": malformed,
        "alive": alive,
        "hostile_s": hostile_s,
        "before_rate": before_rate,
        "after_rate": after_rate,
    }


# ---- 3. rest ---------------------------------------------------------------------------------


async def rest_fuzz(examples: int, seconds: int, endpoints: Any, template: str) -> dict[str, Any]:
    name = await databases.clone_database(endpoints.database_url, template)
    url = databases.with_database(endpoints.database_url, name)
    try:
        with tempfile.TemporaryDirectory() as folder:
            log = Path(folder) / "api.log"
            async with rest_api(url, endpoints.kafka_bootstrap, log) as shops:
                before = await shop_rows(url, VICTIM)
                started = time.perf_counter()
                run = await fuzz(
                    shops,
                    Path(folder) / "report.ndjson",
                    max_examples=examples,
                    max_time=seconds,
                    seed=20261201,
                )
                took = time.perf_counter() - started
                after = await shop_rows(url, VICTIM)
            tracebacks = log.read_text().count("Traceback")
    finally:
        await databases.drop_database(endpoints.database_url, name)
    return {
        "requests": run.requests,
        "statuses": run.statuses,
        "stateful": run.stateful_scenarios,
        "leaks": len(run.leaks),
        "victim_changed": before != after,
        "returncode": run.returncode,
        "tracebacks": tracebacks,
        "seconds": took,
    }


# ---- 4. flood --------------------------------------------------------------------------------


def _bad_request(base: str, key_id: str) -> tuple[str, str, dict[str, str], Any]:
    address = f"203.0.{random.randrange(256)}.{random.randrange(1, 255)}"
    headers = {"X-Forwarded-For": address}
    kind = random.randrange(4)
    if kind == 0:
        headers["Authorization"] = f"Bearer eyJhbGciOiJIUzI1NiJ9.{random.getrandbits(64):x}.x"
        return "GET", f"{base}/v2/orders", headers, None
    if kind == 1:
        headers["API-KEY"] = f"osk_{key_id}_{random.getrandbits(128):x}"
        return "GET", f"{base}/v2/orders/GOOD-1", headers, None
    if kind == 2:
        headers["API-KEY"] = f"osk_{random.getrandbits(48):012x}_{random.getrandbits(64):x}"
        return "GET", f"{base}/v2/orders", headers, None
    body = {"access_key": f"osk_{key_id}_{random.getrandbits(128):x}"}
    return "POST", f"{base}/v2/token", headers, body


async def flooder(base: str, key_id: str, seconds: float, rate: float) -> None:
    """Paced open loop of bad requests; prints the status counts as JSON at the end."""
    statuses: Counter[int] = Counter()
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(limits=limits, timeout=10) as client:
        in_flight = 0

        async def one() -> None:
            nonlocal in_flight
            method, url, headers, body = _bad_request(base, key_id)
            in_flight += 1
            try:
                answer = await client.request(method, url, headers=headers, json=body)
                statuses[answer.status_code] += 1
            except httpx.HTTPError:
                statuses[0] += 1
            finally:
                in_flight -= 1

        tasks = []
        started = time.perf_counter()
        sent = 0
        while (now := time.perf_counter() - started) < seconds:
            due = int(now * rate)
            while sent < due:
                sent += 1
                # Open loop, but bounded: a request the server cannot take now is not sent
                # (counted as status -1), so the flood ends on time.
                if in_flight >= 64:
                    statuses[-1] += 1
                    continue
                tasks.append(asyncio.create_task(one()))
            await asyncio.sleep(0.002)
        await asyncio.gather(*tasks)
    print(json.dumps(dict(statuses)))


async def _good(base: str, token: str, seconds: float, rate: float) -> list[float]:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": "10.0.0.1"}
    latencies: list[float] = []
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as client:

        async def one() -> None:
            began = time.perf_counter()
            answer = await client.get("/v2/orders/GOOD-1")
            if answer.status_code == 200:
                latencies.append(time.perf_counter() - began)

        tasks = []
        started = time.perf_counter()
        for n in range(int(seconds * rate)):
            await asyncio.sleep(max(started + n / rate - time.perf_counter(), 0))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def _percentiles(latencies: list[float]) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return {"n": len(latencies), "p50": cuts[49] * 1000, "p99": cuts[98] * 1000}


async def flood(
    args: argparse.Namespace, endpoints: Any, template: str, code: Path
) -> dict[str, Any]:
    """Good requests alone and beside a flood, in turns, against the code under ``code``."""
    name = await databases.clone_database(endpoints.database_url, template)
    url = databases.with_database(endpoints.database_url, name)
    settings = Settings(
        database_url=SecretStr(url), kafka_bootstrap_servers=endpoints.kafka_bootstrap
    )
    key = await plain_api_key(
        url, "good-shop", pepper=settings.api_key_pepper.get_secret_value(), label="bench"
    )
    port = 18_000 + random.randrange(1000)
    base = f"http://127.0.0.1:{port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ORDERSTATE_")},
        "PYTHONPATH": str(code),
        "ORDERSTATE_DATABASE_URL": url,
        # The same for both revisions: their development defaults differ.
        "ORDERSTATE_API_KEY_PEPPER": settings.api_key_pepper.get_secret_value(),
        "ORDERSTATE_API_PORT": str(port),
        "ORDERSTATE_LOG_LEVEL": "WARNING",
        "ORDERSTATE_API_TRUSTED_PROXIES": "127.0.0.1",
        # Older code took X-Forwarded-For from 127.0.0.1 by uvicorn's default.
        "FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    api = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "orderstate",
        "api",
        env=env,
        cwd=tempfile.gettempdir(),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:

        async def serves() -> bool:
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{base}/v2/openapi.json")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_for(serves, timeout_s=30)
        async with httpx.AsyncClient(base_url=base) as client:
            await client.post("/v2/orders", json=order_body("GOOD-1"), headers={"API-KEY": key})
            token = (await client.post("/v2/token", json={"access_key": key})).json()["token"]
        await _good(base, token, 3, args.good_rate)  # warm-up
        measured = await _flood_rounds(args, api.pid, base, token, key.split("_")[1])
    finally:
        api.terminate()
        await asyncio.wait_for(api.wait(), timeout=30)
        await databases.drop_database(endpoints.database_url, name)
    return measured


async def _flood_rounds(
    args: argparse.Namespace, api_pid: int, base: str, token: str, key_id: str
) -> dict[str, Any]:
    # Alone and flooded windows take turns, so that a slow moment of the machine falls
    # on both: one 30 s window of each measured the machine as much as the flood.
    window = args.flood_seconds / args.flood_rounds
    alone_latencies: list[float] = []
    flooded_latencies: list[float] = []
    statuses: Counter[int] = Counter()
    cpu = {"alone": 0.0, "flooded": 0.0}
    seconds = {"alone": 0.0, "flooded": 0.0}
    for _ in range(args.flood_rounds):
        began, cpu_began = time.perf_counter(), _cpu_seconds(api_pid)
        alone_latencies += await _good(base, token, window, args.good_rate)
        cpu["alone"] += _cpu_seconds(api_pid) - cpu_began
        seconds["alone"] += time.perf_counter() - began
        bad = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--flood-rate",
            str(args.flood_rate),
            "--flooder",
            base,
            key_id,
            str(window + 1),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            await asyncio.sleep(1)
            began, cpu_began = time.perf_counter(), _cpu_seconds(api_pid)
            flooded_latencies += await _good(base, token, window - 1, args.good_rate)
            cpu["flooded"] += _cpu_seconds(api_pid) - cpu_began
            seconds["flooded"] += time.perf_counter() - began
            out, _ = await asyncio.wait_for(bad.communicate(), timeout=120)
        finally:
            if bad.returncode is None:
                bad.kill()
                await bad.wait()
        statuses.update(
            {int(k): v for k, v in json.loads(out.decode().strip().splitlines()[-1]).items()}
        )
    answered = sum(v for k, v in statuses.items() if k > 0)
    # The flood's share of the api's CPU, per bad request it answered: what refusing one
    # costs, a figure the machine's noise moves much less than a p99.
    extra = cpu["flooded"] / seconds["flooded"] - cpu["alone"] / seconds["alone"]
    per_bad_ms = 1000 * extra / (answered / (args.flood_rounds * (window + 1)))
    return {
        "alone": _percentiles(alone_latencies),
        "flooded": _percentiles(flooded_latencies),
        "flood_statuses": dict(statuses),
        "rounds": args.flood_rounds,
        "api_cpu_per_s": {k: cpu[k] / seconds[k] for k in cpu},
        "api_cpu_ms_per_bad_request": per_bad_ms,
    }


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ---- the run ---------------------------------------------------------------------------------


def _revision(rev: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", rev, "services"], check=True, capture_output=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into / "services"


async def main(args: argparse.Namespace) -> dict[str, Any]:
    only = set(args.only or ["decode", "worker", "rest", "flood"])
    found: dict[str, Any] = {}
    if "decode" in only:
        found["decode"] = decode_fuzz(args.records)
        _keep(found)
        print("decode", found["decode"]["records"], "crashes", len(found["decode"]["crashes"]))
    with provide() as endpoints:
        template = await databases.create_template(endpoints.database_url)
        try:
            if "worker" in only:
                found["worker"] = await worker_fuzz(args.records, endpoints, template)
                _keep(found)
                print("worker", found["worker"])
            if "rest" in only:
                found["rest"] = await rest_fuzz(
                    args.rest_examples, args.rest_seconds, endpoints, template
                )
                _keep(found)
                print("rest", found["rest"])
            if "flood" in only:
                found["flood"] = await flood(args, endpoints, template, REPO / "services")
                _keep(found)
                print("flood", found["flood"])
                if args.before:
                    with tempfile.TemporaryDirectory() as folder:
                        old = _revision(args.before, Path(folder))
                        found["flood_before"] = await flood(args, endpoints, template, old)
                        found["before"] = args.before
                    _keep(found)
                    print("flood before", found["flood_before"])
        finally:
            await databases.drop_database(endpoints.database_url, template)
    return found


def render(found: dict[str, Any]) -> str:
    """The figures of a run as the section "Measured" of bench/security-results.md."""
    lines = ["## Measured", ""]
    if "decode" in found:
        d = found["decode"]
        kinds: Counter[str] = Counter()
        for key, n in d["outcomes"].items():
            kinds[key] += n
        lines += [
            f"**decode_record**: {d['records']:,} generated records, "
            f"{len(d['crashes'])} exceptions other than DecodeError "
            f"({d['decode_s']:.1f} s to decode, {d['generate_s']:.0f} s to generate).",
            "",
            "| kind | decoded | malformed |",
            "| --- | ---: | ---: |",
        ]
        names = sorted({k.split("/")[0] for k in kinds})
        for name in names:
            lines.append(
                f"| {name} | {kinds.get(name + '/decoded', 0):,} | "
                f"{kinds.get(name + '/malformed', 0):,} |"
            )
        lines.append("")
    if "worker" in found:
        w = found["worker"]
        lines += [
            f"**Through a running worker** (real broker, 6 partitions): {w['records']:,} "
            f"records, {w['decided']:,} accounted for as decided or malformed "
            f"({w['malformed']:,} malformed), worker still running: {w['alive']}, "
            f"{w['hostile_s']:.0f} s for all of them. Throughput on 5,000 valid orders "
            f"(produce to applied): {w['before_rate']:,.0f}/s before, "
            f"{w['after_rate']:,.0f}/s after.",
            "",
        ]
    if "rest" in found:
        r = found["rest"]
        statuses = ", ".join(f"{k}: {v:,}" for k, v in sorted(r["statuses"].items()))
        server_errors = sum(v for k, v in r["statuses"].items() if int(k) >= 500)
        lines += [
            f"**REST** (schemathesis, every phase; {r['stateful']} stateful scenarios): "
            f"{r['requests']:,} requests in {r['seconds']:.0f} s, {server_errors} 5xx, "
            f"{r['leaks']} answers naming the other shop's orders, the other shop's rows "
            f"changed: {r['victim_changed']}, schemathesis exit code {r['returncode']}, "
            f"{r['tracebacks']} tracebacks in the api's log. Statuses: {statuses}.",
            "",
        ]
    for name, label in (("flood", "this code"), ("flood_before", found.get("before", ""))):
        if name not in found:
            continue
        f = found[name]
        alone, flooded = f["alone"], f["flooded"]
        lines += [
            f"**Auth flood, {label}**: good requests alone p50 {alone['p50']:.1f} ms, "
            f"p99 {alone['p99']:.1f} ms (n={alone['n']}); beside the flood p50 "
            f"{flooded['p50']:.1f} ms, p99 {flooded['p99']:.1f} ms (n={flooded['n']}), "
            f"{flooded['p99'] / alone['p99']:.2f} x"
            + (
                f", in {f['rounds']} alone and flooded windows taking turns; the api's CPU "
                f"{f['api_cpu_per_s']['alone']:.2f} s/s alone, "
                f"{f['api_cpu_per_s']['flooded']:.2f} s/s flooded, "
                f"{f['api_cpu_ms_per_bad_request']:.2f} ms per bad request"
                if "rounds" in f
                else ""
            )
            + ". Flood answers: "
            + ", ".join(f"{k}: {v:,}" for k, v in sorted(f["flood_statuses"].items()))
            + ".",
            "",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    arguments = _args()
    if arguments.render:
        print(render(json.loads(arguments.render.read_text())))
    elif arguments.flooder:
        base, key_id, seconds = arguments.flooder
        asyncio.run(flooder(base, key_id, float(seconds), arguments.flood_rate))
    else:
        asyncio.run(main(arguments))
        print(f"raw figures in {RAW}")
