"""`make bench`: orderstate against its ceilings and a per-event faust agent, in one run.

  (a)  raw aiokafka consume rate of the pre-loaded input topics (and with decode_record)
  (b)  raw batched upsert rate of order view rows (500 per INSERT ... unnest ... ON CONFLICT)
  (c)  a per-event faust-streaming agent: one PostgreSQL transaction per event (time-boxed)
  (d)  orderstate worker + relay processes: sustained events/s to committed views with the
       outbox drained, p50/p99 latency at a paced 1,000 events/s, peak RSS, CPU split,
       a sampled profile of worker and relay, and apply_batch timed statement by statement
  (e)  the order monitor (faust-streaming) on the outbound topics (d) left: one process, two,
       and faust's own delivery rate on the same records

Every database, topic and consumer group it makes is bench-owned and removed at the end;
it starts processes by pid and stops only those. See bench/README.md.
"""

import argparse
import asyncio
import dataclasses
import logging
import math
import pickle
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

import baselines
import history_scaling
import hotpaths
import infra
import monitor
import pipeline
import probe_record
import report
import stacks
from figures import percentile
from orderstate.events.topics import TopicRole
from orderstate.simulation.generator import SimConfig, SimRecord, generate
from tests.support.kafka import TopicNames


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument(
        "--orders", type=int, default=10_000, help="simulated orders, ~11 records each"
    )
    parser.add_argument(
        "--backlog-runs",
        type=int,
        default=3,
        help="runs of (d) on the backlog, each on a fresh database; the headline is their median",
    )
    parser.add_argument("--latency-rate", type=float, default=1_000.0, help="events/s")
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument(
        "--latency-also-wait-ms",
        type=int,
        nargs="*",
        default=[5],
        help="repeat the latency run with ORDERSTATE_BATCH_MAX_WAIT_MS set to each value",
    )
    parser.add_argument("--faust-seconds", type=float, default=60.0, help="faust time box")
    parser.add_argument(
        "--profile-seconds", type=float, default=30.0, help="time box of the sampled profile"
    )
    parser.add_argument("--quiet-wait", type=float, default=120.0, help="max s to wait for idle")
    parser.add_argument(
        "--gc-tune",
        default="50000,20,100",
        help="thresholds of the GC experiment (gc.freeze() after start-up, then these)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        choices=["faust", "profile", "gc", "loop", "hotpaths", "history", "scale", "monitor"],
        help="leave a phase out (repeatable)",
    )
    parser.add_argument(
        "--render", type=Path, help="only rewrite results.md from a run's figures.pickle"
    )
    parser.add_argument("--no-write", action="store_true", help="do not write bench/results.md")
    args = parser.parse_args()
    if args.backlog_runs < 1:
        parser.error("--backlog-runs must be at least 1")
    return args


def _mix(records: list[SimRecord]) -> Counter[str]:
    return Counter(r.kind.value for r in records)


class Bench:
    """One run: its services, scratch resources, figures (``r``) and processes to stop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.ends = infra.endpoints()
        self.scratch = infra.Scratch(self.ends)
        self.logs = infra.REPO / ".local" / "bench" / self.scratch.run_id
        self.r: dict[str, Any] = {"logs": self.logs, "args": args, "argv": sys.argv[1:]}
        self.running: list[pipeline.Orderstate] = []
        self.records: list[SimRecord] = []
        self.topics = self.scratch.topic_set("in")
        self.offsets: dict[Any, int] = {}

    async def orderstate(
        self, name: str, *, own_outbound: bool = False, **options: Any
    ) -> pipeline.Orderstate:
        """Worker and relay (not started) on a fresh database and group named ``name``; with
        ``own_outbound``, publishing to outbound topics of their own instead of the run's,
        which the monitor phase reads."""
        topics = self.topics
        if own_outbound:
            own = self.scratch.topic_set(name)
            topics = dataclasses.replace(
                topics, order_events=own.order_events, rejected=own.rejected, alerts=own.alerts
            )
            await self.scratch.create_topics([own.order_events, own.rejected, own.alerts])
        run = pipeline.Orderstate(
            self.ends,
            await self.scratch.database(name),
            topics,
            self.scratch.group(name),
            self.logs / name,
            **options,
        )
        self.running.append(run)
        return run

    async def live_topics(self, name: str) -> TopicNames:
        topics = self.scratch.topic_set(name)
        await self.scratch.create_topics(topics.inbound)
        return topics

    def stop(self, run: pipeline.Orderstate) -> dict[str, int]:
        codes = run.stop()
        self.running.remove(run)
        return codes

    async def preload(self) -> None:
        args, r = self.args, self.r
        with infra.phase(f"generate {args.orders} orders and pre-load the input topics"):
            self.records = list(generate(SimConfig(orders=args.orders, seed=1)))
            await self.scratch.create_topics(self.topics.all)
            r["publish_s"] = await infra.produce(
                self.ends.kafka, self.records, _topic_for(self.topics)
            )
            self.offsets = await infra.end_offsets(self.ends.kafka, self.topics.inbound)
            r["n"], r["mix"] = sum(self.offsets.values()), _mix(self.records)
            if r["n"] != len(self.records):
                raise RuntimeError(f"{len(self.records)} records published, {r['n']} on topics")
            print(f"   {r['n']} records in {r['publish_s']:.1f} s")

    async def consume(self) -> None:
        r, kafka = self.r, self.ends.kafka
        with infra.phase("(a) raw aiokafka consume, and consume + decode_record"):
            r["consume_runs"] = [await baselines.raw_consume(kafka, self.offsets) for _ in "abc"]
            r["consume"] = max(r["consume_runs"], key=lambda c: c.rate)
            roles = {
                self.topics.orders: TopicRole.ORDERS_IN,
                self.topics.shipments: TopicRole.SHIPMENTS_IN,
            }
            r["decode"] = await baselines.raw_consume(kafka, self.offsets, roles=roles)
            rates = [round(c.rate) for c in r["consume_runs"]]
            print(f"   consume {rates} records/s; with decode {r['decode'].rate:.0f}")

    async def orderstate_runs(self) -> pipeline.Orderstate:
        args, r = self.args, self.r
        # One run of the backlog read up to 40 % below the runs after it in the same make bench
        # (bench/README.md, "Machine speed"), so the headline is the median of several.
        runs: list[tuple[pipeline.Orderstate, pipeline.Throughput, dict[str, Any]]] = []
        for n in range(1, args.backlog_runs + 1):
            with infra.phase(
                "(d) orderstate worker + relay on the pre-loaded backlog, "
                f"run {n} of {args.backlog_runs}"
            ):
                # The last run publishes where the monitor phase reads, as one run did before.
                run = await self.orderstate(
                    "orderstate" if n == 1 else f"orderstate{n}",
                    own_outbound=n < args.backlog_runs,
                )
                tp = await pipeline.throughput(
                    self.ends, run, self.offsets, max(180.0, r["n"] / 300)
                )
                runs.append((run, tp, pipeline.batch_log(run.logs / "worker.log")))
                print(
                    f"   {tp.records} records: offsets at the end after "
                    f"{tp.started_to_offsets_s:.1f} s, outbox drained after "
                    f"{tp.started_to_drained_s:.1f} s = {tp.rate:.0f}/s"
                )
            if n < args.backlog_runs:
                self.stop(run)
        median = sorted(runs, key=lambda x: x[1].rate)[len(runs) // 2]
        r["backlog_runs"] = [tp for _, tp, _ in runs]
        r["backlog_median_run"] = runs.index(median) + 1
        r["throughput"], r["backlog_batches"] = median[1], median[2]
        # The latency runs go on with the last backlog run's processes and database.
        r["latency"] = []
        for n, wait_ms in enumerate([None, *args.latency_also_wait_ms]):
            label = "default settings" if wait_ms is None else f"batch_max_wait_ms={wait_ms}"
            with infra.phase(
                f"(d) latency at {args.latency_rate:g} events/s for {args.latency_seconds:g} s, "
                + label
            ):
                # Paced records go to topics of their own, so the backlog topics stay as they
                # were for the phases after this one; the worker is restarted on them.
                settings = {} if wait_ms is None else {"ORDERSTATE_BATCH_MAX_WAIT_MS": str(wait_ms)}
                await run.restart_worker(settings, await self.live_topics(f"live{n}"))
                await self._latency(run, n)
        r["stop_codes"] = self.stop(run)
        r["outcomes_db"] = await _outcomes(run.url)
        return run

    async def _latency(self, run: pipeline.Orderstate, n: int) -> None:
        args, r = self.args, self.r
        total = int(args.latency_rate * args.latency_seconds)
        paced = list(generate(SimConfig(orders=math.ceil(total / 10) + 100, seed=2 + n)))
        lat = await pipeline.latency(
            self.ends, run, paced, rate=args.latency_rate, seconds=args.latency_seconds
        )
        window = pipeline.batch_log(run.logs / "worker.log", since=lat.began, until=lat.ended)
        r["latency"].append((lat, window))
        if n == 0:
            r["latency_mix"] = _mix(paced[:total])
            assert run.worker is not None and run.relay is not None  # noqa: S101
            r["worker_hwm_kb"] = infra.status_kb(run.worker.pid, "VmHWM")
            r["relay_hwm_kb"] = infra.status_kb(run.relay.pid, "VmHWM")
        print(
            f"   committed p50 {percentile(lat.committed_ms, 50):.0f} ms, "
            f"p99 {percentile(lat.committed_ms, 99):.0f} ms "
            f"({len(lat.committed_ms)} events, sent at {lat.achieved_rate:.0f}/s)"
        )

    async def monitors(self, run: pipeline.Orderstate) -> None:
        """(e) on the order events and rejections of ``run``, which has stopped: the monitor
        with its own fetch page (one process, two), and one process with faust's default page
        for comparison; (e') faust alone with either page."""
        self.r["monitor"] = []
        arms = [
            (1, monitor.MONITOR_FETCH_BYTES),
            (2, monitor.MONITOR_FETCH_BYTES),
            (1, monitor.FAUST_FETCH_BYTES),
        ]
        for processes, page in arms:
            title = f"(e) order monitor, {processes} process(es), {page // 1024} KiB page"
            with infra.phase(f"{title}, on (d)'s output"):
                result = await monitor.run_monitor(
                    self.ends,
                    self.scratch,
                    self.topics,
                    run.url,
                    self.logs,
                    processes=processes,
                    page_bytes=page,
                )
                self.r["monitor"].append(result)
                print(
                    f"   {result.records} records in {result.seconds:.1f} s = "
                    f"{result.rate:.0f}/s; alerts {result.alerts}"
                )
        self.r["monitor_ceilings"] = []
        for page in (monitor.MONITOR_FETCH_BYTES, monitor.FAUST_FETCH_BYTES):
            with infra.phase(f"(e') faust-streaming alone, {page // 1024} KiB page"):
                ceiling = await monitor.run_faust_ceiling(
                    self.ends, self.scratch, self.topics, self.logs, page_bytes=page
                )
                self.r["monitor_ceilings"].append(ceiling)
                print(f"   {ceiling.records} records at {ceiling.rate:.0f}/s")

    async def profile(self) -> None:
        args, r = self.args, self.r
        with infra.phase(
            f"(d) profile: worker and relay sampled by py-spy for {args.profile_seconds:g} s"
        ):
            prof = await self.orderstate("profile", profile=True)
            prof.start()
            samplers = {
                name: stacks.sample(
                    process.pid, seconds=args.profile_seconds, out=prof.logs / f"{name}.stacks"
                )
                for name, process in (("worker", prof.worker), ("relay", prof.relay))
                if process is not None
            }
            await asyncio.sleep(args.profile_seconds)
            try:
                for sampler in samplers.values():
                    await asyncio.to_thread(stacks.finish, sampler)
                prof.alive()
            finally:
                self.stop(prof)
            r["profile"] = pipeline.summarise_profile(prof.logs / "worker.stacks")
            r["relay_profile"] = pipeline.summarise_profile(prof.logs / "relay.stacks")
            r["profile_batches"] = pipeline.batch_log(prof.logs / "worker.log")
            r["profile_gc"] = prof.gc_stats("worker")
        with infra.phase("(d) apply_batch in-process, timed statement by statement"):
            r["statements"] = await pipeline.statement_profile(
                await self.scratch.database("statements"), self.records
            )
            print(f"   {r['statements'].rate:.0f} events/s in-process (no Kafka)")

    async def gc_experiment(self) -> None:
        self.r["gc"] = {}
        for arm, tune in (("observed", ""), ("tuned", self.args.gc_tune)):
            with infra.phase(f"(d) GC experiment, {arm}: the backlog, then 20 s at 1,000/s"):
                run = await self.orderstate(f"gc_{arm}", gc_tune=tune)
                try:
                    tp = await pipeline.throughput(
                        self.ends, run, self.offsets, max(180.0, self.r["n"] / 300)
                    )
                    await run.restart_worker({}, await self.live_topics(f"live-{arm}"))
                    paced = list(generate(SimConfig(orders=2_100, seed=11)))
                    lat = await pipeline.latency(self.ends, run, paced, rate=1_000, seconds=20)
                    assert run.worker is not None  # noqa: S101
                    hwm = infra.status_kb(run.worker.pid, "VmHWM")
                finally:
                    self.stop(run)
                self.r["gc"][arm] = {
                    "throughput": tp,
                    "latency": lat,
                    "gc": run.gc_stats("worker"),
                    "hwm_kb": hwm,
                }
                print(
                    f"   {tp.rate:.0f} events/s; latency p50 "
                    f"{percentile(lat.committed_ms, 50):.0f} ms, p99 "
                    f"{percentile(lat.committed_ms, 99):.0f} ms"
                )

    async def loop_experiment(self) -> None:
        """The backlog and 20 s of paced load on asyncio's own event loop and on uvloop
        (ORDERSTATE_EVENT_LOOP), two rounds in turns so that a drift of the machine's speed
        falls on both arms."""
        self.r["event_loop"] = []
        for round_ in (1, 2):
            for arm in ("asyncio", "uvloop"):
                with infra.phase(
                    f"(d) event loop {arm}, round {round_}: the backlog, then 20 s at 1,000/s"
                ):
                    chosen = {"ORDERSTATE_EVENT_LOOP": arm}
                    run = await self.orderstate(f"loop_{arm}{round_}", settings=chosen)
                    try:
                        tp = await pipeline.throughput(
                            self.ends, run, self.offsets, max(180.0, self.r["n"] / 300)
                        )
                        live = await self.live_topics(f"live-{arm}{round_}")
                        await run.restart_worker(chosen, live)
                        paced = list(generate(SimConfig(orders=2_100, seed=11)))
                        lat = await pipeline.latency(self.ends, run, paced, rate=1_000, seconds=20)
                    finally:
                        self.stop(run)
                    self.r["event_loop"].append(
                        {"arm": arm, "round": round_, "throughput": tp, "latency": lat}
                    )
                    print(
                        f"   {tp.rate:.0f} events/s; latency p50 "
                        f"{percentile(lat.committed_ms, 50):.0f} ms, p99 "
                        f"{percentile(lat.committed_ms, 99):.0f} ms"
                    )

    async def scale(self) -> None:
        with infra.phase("(d) scaling: two workers and one relay on the backlog"):
            run = await self.orderstate("scale2", workers=2)
            try:
                tp = await pipeline.throughput(
                    self.ends, run, self.offsets, max(180.0, self.r["n"] / 300)
                )
            finally:
                self.stop(run)
            self.r["scale2"] = tp
            print(f"   {tp.rate:.0f} events/s with two workers")

    async def upsert(self, source_url: str) -> None:
        with infra.phase("(b) raw batched upsert of the order views, 500 rows per statement"):
            u = await baselines.raw_upsert(source_url, await self.scratch.database("upsert"))
            self.r["upsert"] = u
            print(f"   insert {u.insert_rate:.0f} rows/s, update {u.update_rate:.0f} rows/s")

    async def faust(self) -> None:
        args, r = self.args, self.r
        with infra.phase(f"(c) per-event faust agent, {args.faust_seconds:g} s time box"):
            try:
                r["faust"] = await baselines.run_faust(
                    self.ends,
                    self.scratch,
                    self.topics,
                    await self.scratch.database("faust"),
                    self.logs / "faust",
                    total=r["n"],
                    time_box_s=args.faust_seconds,
                )
                print(f"   {r['faust'].events} events, {r['faust'].rate:.0f} events/s")
            except (RuntimeError, TimeoutError) as exc:
                r["faust_error"] = str(exc)
                print(f"   faust did not run: {exc}")

    async def cleanup(self) -> None:
        for leftover in list(self.running):
            self.stop(leftover)
        with infra.phase("clean up bench databases, topics and consumer groups"):
            self.r["cleanup_problems"] = await self.scratch.cleanup()
            for problem in self.r["cleanup_problems"]:
                print(f"   cleanup: {problem}")


async def main(args: argparse.Namespace) -> int:
    # A produce to a topic created a moment ago is retried once; that warning is noise here.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    # SIGTERM, like Ctrl-C, cancels the run; the clean-up below still runs.
    task = asyncio.current_task()
    if task is not None:
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    bench = Bench(args)
    r = bench.r
    bench.logs.mkdir(parents=True, exist_ok=True)
    print(f"bench run {bench.scratch.run_id}; logs and profiles in {bench.logs}")
    r["machine"] = await infra.machine(bench.ends)
    with infra.phase("wait for a quiet machine (other sessions may share it)"):
        r["load_before"] = await infra.wait_for_quiet(max_wait_s=args.quiet_wait)
        print(f"   {r['load_before']:.2f} cores busy before the run")
    r["started"] = datetime.now(UTC)
    started = time.monotonic()
    timeline_stop = asyncio.Event()
    timeline = asyncio.create_task(
        infra.cpu_timeline(bench.logs / "cpu-timeline.txt", timeline_stop)
    )
    try:
        await bench.preload()
        await bench.consume()
        run = await bench.orderstate_runs()
        if "monitor" not in args.skip:
            await bench.monitors(run)
        if "profile" not in args.skip:
            await bench.profile()
        if "gc" not in args.skip:
            await bench.gc_experiment()
        if "loop" not in args.skip:
            await bench.loop_experiment()
        if "scale" not in args.skip:
            await bench.scale()
        if "hotpaths" not in args.skip:
            with infra.phase("(d) hot paths and cheaper alternatives, in-process"):
                r["hotpaths"] = hotpaths.measure()
        if "history" not in args.skip:
            with infra.phase("(d) cost per event by history length, in-process"):
                r["history"] = await history_scaling.measure(
                    await bench.scratch.database("history")
                )
                print(f"   long / short history: {r['history'].ratio:.2f} times")
        await bench.upsert(run.url)
        if "faust" not in args.skip:
            await bench.faust()
    finally:
        timeline_stop.set()
        await timeline
        await bench.cleanup()
    r["wall_s"] = time.monotonic() - started
    r["speed"] = list(infra.SPEED)
    with (bench.logs / "figures.pickle").open("wb") as out:
        pickle.dump(r, out)
    return _write(r, bench.logs)


def _write(r: dict[str, Any], logs: Path) -> int:
    text = report.render(r)
    (logs / "results.md").write_text(text)
    print("\n" + report.summary(r))
    if not r["args"].no_write:
        report.RESULTS.write_text(text)
        print(f"wrote {report.RESULTS.relative_to(infra.REPO)}")
        if r["speed"]:
            run = f"make bench at {infra.git('rev-parse', '--short', 'HEAD')}"
            probe_record.note_run(min(us for _, us in r["speed"]), run)
    return 0


def _topic_for(topics: TopicNames) -> dict[str, str]:
    return {
        TopicRole.ORDERS_IN.value: topics.orders,
        TopicRole.SHIPMENTS_IN.value: topics.shipments,
    }


async def _outcomes(url: str) -> dict[str, dict[str, int]]:
    conn = await asyncpg.connect(url)
    try:
        processed = await conn.fetch("SELECT outcome, count(*) FROM processed_events GROUP BY 1")
        rejected = await conn.fetch("SELECT reason, count(*) FROM rejected_events GROUP BY 1")
    finally:
        await conn.close()
    return {
        "processed_events": {x[0]: x[1] for x in processed},
        "rejected_events": {x[0]: x[1] for x in rejected},
    }


if __name__ == "__main__":
    arguments = _args()
    if arguments.render:
        with arguments.render.open("rb") as saved:
            figures = pickle.load(saved)  # noqa: S301 -- our own file from an earlier run
        figures["args"].no_write = arguments.no_write
        sys.exit(_write(figures, arguments.render.parent))
    try:
        sys.exit(asyncio.run(main(arguments)))
    except subprocess.CalledProcessError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        sys.exit(2)
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("bench: interrupted; bench databases, topics and processes were cleaned up")
        sys.exit(130)
