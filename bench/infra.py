"""What every benchmark phase needs: the local services, scratch databases and topics that are
removed again, processes started by pid, and CPU and memory readings from /proc. Databases,
topics and the environment of an orderstate process are made as the tests make them
(tests/support; `make bench` runs with the repository root on PYTHONPATH)."""

import asyncio
import contextlib
import io
import os
import platform
import re
import signal
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.protocol.admin import DeleteGroupsRequest
from pydantic import SecretStr

from orderstate.projector.migrate import migrate
from orderstate.settings import Settings
from orderstate.simulation.generator import SimRecord
from tests.support import databases, kafka
from tests.support.kafka import TopicNames
from tests.support.processes import env_for

REPO = Path(__file__).resolve().parents[1]
SERVICES = REPO / "deploy" / "local" / "services.sh"
PYTHON = REPO / ".venv" / "bin" / "python"
_CLK_TCK = os.sysconf("SC_CLK_TCK")
PARTITIONS = 6


@dataclass(frozen=True)
class Endpoints:
    kafka: str
    database_url: str
    postmaster_pid: int
    kafka_pid: int


def endpoints() -> Endpoints:
    """The native services of deploy/local (`make services-up`); only 127.0.0.1 is accepted."""
    out = subprocess.run([str(SERVICES), "env"], check=True, capture_output=True, text=True)
    env = dict(line.split("=", 1) for line in out.stdout.splitlines() if "=" in line)
    kafka, url = env["ORDERSTATE_KAFKA_BOOTSTRAP_SERVERS"], env["ORDERSTATE_DATABASE_URL"]
    if not kafka.startswith("127.0.0.1:") or urlsplit(url).hostname != "127.0.0.1":
        raise SystemExit(f"bench: refusing non-local services: {kafka} {url}")
    status = subprocess.run(
        [str(SERVICES), "status"], check=True, capture_output=True, text=True
    ).stdout
    pids = {m[1]: int(m[2]) for m in re.finditer(r"^(\w+)\s+running\s+pid\s+(\d+)", status, re.M)}
    if "postgres" not in pids or "kafka" not in pids:
        raise SystemExit(f"bench: Kafka and PostgreSQL must run (make services-up):\n{status}")
    return Endpoints(kafka, url, pids["postgres"], pids["kafka"])


@dataclass
class Scratch:
    """Databases, topics and consumer groups this run created; ``cleanup`` removes them all."""

    ends: Endpoints
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    databases: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)

    def name(self, suffix: str) -> str:
        return f"bench{self.run_id}.{suffix}"

    def topic_set(self, suffix: str) -> TopicNames:
        return TopicNames(
            orders=self.name(f"{suffix}.shop.orders.v1"),
            shipments=self.name(f"{suffix}.shop.shipments.v1"),
            order_events=self.name(f"{suffix}.orderstate.order-events.v1"),
            rejected=self.name(f"{suffix}.orderstate.rejected.v1"),
            alerts=self.name(f"{suffix}.orderstate.order-alerts.v1"),
        )

    def group(self, suffix: str) -> str:
        name = self.name(suffix)
        self.groups.append(name)
        return name

    async def database(self, suffix: str, *, migrated: bool = True) -> str:
        """A new database (migrated to head unless told otherwise); returns its URL."""
        name = f"bench_{self.run_id}_{suffix}"
        await databases.create_empty(self.ends.database_url, name)
        self.databases.append(name)
        url = databases.with_database(self.ends.database_url, name)
        if migrated:
            conn = await asyncpg.connect(url)
            try:
                await migrate(conn)
            finally:
                await conn.close()
        return url

    async def create_topics(self, topics: Iterable[str]) -> None:
        names = list(topics)
        await kafka.create_topics(self.ends.kafka, names, PARTITIONS)
        self.topics.extend(names)
        await partitions(self.ends.kafka, names)

    async def drop_databases(self) -> list[str]:
        """Drop every database this run made; return what could not be."""
        problems: list[str] = []
        for name in self.databases:
            try:
                await databases.drop_database(self.ends.database_url, name)
            except (OSError, asyncpg.PostgresError) as exc:
                problems.append(f"database {name}: {exc}")
        return problems

    async def cleanup(self) -> list[str]:
        """Drop every database, topic and group this run made; return what could not be."""
        problems = await self.drop_databases()
        client = AIOKafkaAdminClient(bootstrap_servers=self.ends.kafka)
        await client.start()
        try:
            existing = set(await client.list_topics())
            # faust declares its own topics (<app id>-__assignor-__leader); they carry our prefix.
            ours = sorted({*self.topics, *(t for t in existing if t.startswith(self.name("")))})
            ours = [t for t in ours if t in existing]
            if ours:
                try:
                    await client.delete_topics(ours)
                except Exception as exc:  # a cleanup must report, not stop
                    problems.append(f"topics {ours}: {exc!r}")
            groups = {g for g, _ in await client.list_consumer_groups()}
            for group in [g for g in self.groups if g in groups]:
                try:
                    node = await client.find_coordinator(group)
                    # aiokafka has no public delete_consumer_groups; the request is public API.
                    await client._send_request(DeleteGroupsRequest([group]), node)
                except Exception as exc:
                    problems.append(f"group {group}: {exc!r}")
        finally:
            await client.close()
        return problems


async def produce(kafka: str, records: list[SimRecord], topic_for: dict[str, str]) -> float:
    """Publish records in order (acks=all, idempotent); return the seconds it took."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka, enable_idempotence=True, acks="all", linger_ms=20
    )
    await producer.start()
    started = time.perf_counter()
    try:
        inflight: list[asyncio.Future[object]] = []
        for r in records:
            inflight.append(
                await producer.send(
                    topic_for[r.role.value], value=r.value, key=r.key, headers=r.headers
                )
            )
            if len(inflight) >= 5000:
                await asyncio.gather(*inflight)
                inflight.clear()
        await asyncio.gather(*inflight)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def partitions(kafka: str, topics: list[str]) -> list[TopicPartition]:
    """Every partition of ``topics``, once each has a leader (new topics take a moment)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    try:
        for _ in range(100):
            described = await admin.describe_topics(topics)
            found = [
                (d["topic"], p["partition"], p["leader"])
                for d in described
                for p in d["partitions"]
            ]
            if len(found) == len(topics) * PARTITIONS and all(leader >= 0 for *_, leader in found):
                return [TopicPartition(t, p) for t, p, _ in found]
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    raise RuntimeError(f"topics {topics} have no leaders after 10 s")


async def end_offsets(kafka: str, topics: list[str]) -> dict[TopicPartition, int]:
    tps = await partitions(kafka, topics)
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return ends


async def wait_group_stable(kafka: str, group: str, *, timeout_s: float = 60) -> float:
    """Wait until ``group`` has members and is Stable (partitions assigned); return seconds."""
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka)
    await admin.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < timeout_s:
            response = (await admin.describe_consumer_groups([group]))[0]
            # (error_code, group_id, state, protocol_type, protocol, members, ...)
            described = response.groups[0]
            if described[2] == "Stable" and described[5]:
                return time.monotonic() - started
            await asyncio.sleep(0.1)
    finally:
        await admin.close()
    raise TimeoutError(f"consumer group {group} not stable within {timeout_s:g} s")


# --- processes -------------------------------------------------------------------------------


def orderstate_env(url: str, kafka: str, topics: TopicNames, group: str) -> dict[str, str]:
    """The environment of an orderstate process on these resources, default settings else."""
    return env_for(
        Settings(
            database_url=SecretStr(url),
            kafka_bootstrap_servers=kafka,
            topic_orders=topics.orders,
            topic_shipments=topics.shipments,
            topic_order_events=topics.order_events,
            topic_rejected=topics.rejected,
            consumer_group=group,
        )
    )


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as handle:
        return subprocess.Popen(
            args, env=env, stdout=handle, stderr=subprocess.STDOUT, cwd=log.parent
        )


def stop(process: subprocess.Popen[bytes], *, within_s: float = 30) -> int:
    """SIGTERM the process we started (by pid); SIGKILL it if it does not exit in time."""
    if process.poll() is not None:
        return process.returncode
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


# --- /proc readings --------------------------------------------------------------------------


class ServerClock:
    """CPU time of one PostgreSQL backend: the first field of /proc/<pid>/schedstat, in ns on
    a CPU. /proc/<pid>/stat counts in clock ticks of 10 ms, too coarse for one statement. Read
    with pread on a descriptor kept open: about 9 µs, outside the timed client CPU."""

    def __init__(self, pid: int) -> None:
        self.fd = os.open(f"/proc/{pid}/schedstat", os.O_RDONLY)

    def ns(self) -> int:
        return int(os.pread(self.fd, 64, 0).split(maxsplit=1)[0])

    def close(self) -> None:
        os.close(self.fd)


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses; the fields follow the last ')'.
    return text[text.rindex(")") + 2 :].split()


def cpu_seconds(pid: int, *, with_children: bool = False) -> float:
    """User + system CPU of a process (plus its reaped children's, if asked)."""
    f = _stat_fields(pid)
    if f is None:
        return 0.0
    ticks = int(f[11]) + int(f[12])
    if with_children:
        ticks += int(f[13]) + int(f[14])
    return ticks / _CLK_TCK


def tree_cpu_seconds(root: int) -> float:
    """CPU of a server and its live children; exited children count through the root's
    reaped-children time, so two readings bracket all work done in between."""
    total = cpu_seconds(root, with_children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            f = _stat_fields(int(entry.name))
            if f is not None and int(f[1]) == root:
                total += (int(f[11]) + int(f[12])) / _CLK_TCK
    return total


def host_cpu() -> tuple[float, float]:
    """(busy, total) seconds of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return (total - idle) / _CLK_TCK, total / _CLK_TCK


def status_kb(pid: int, key: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


@dataclass
class CpuMeter:
    """CPU used by each named process (tree) between ``start`` and ``stop``, as cores."""

    pids: dict[str, tuple[int, bool]]
    _t0: float = 0.0
    _first: dict[str, float] = field(default_factory=dict)
    _host0: tuple[float, float] = (0.0, 0.0)
    result: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def _read(self) -> dict[str, float]:
        return {
            name: tree_cpu_seconds(pid) if tree else cpu_seconds(pid)
            for name, (pid, tree) in self.pids.items()
        }

    def start(self) -> None:
        self._t0 = time.monotonic()
        self._host0 = host_cpu()
        self._first = self._read()

    def add(self, name: str, pid: int, *, tree: bool = False) -> None:
        """A process started after ``start``: all of its CPU counts."""
        self.pids[name] = (pid, tree)
        self._first[name] = 0.0

    def stop(self) -> dict[str, float]:
        last = self._read()
        self.seconds = time.monotonic() - self._t0
        busy0, total0 = self._host0
        busy1, total1 = host_cpu()
        self.result = {
            name: (last[name] - self._first.get(name, 0.0)) / self.seconds for name in last
        }
        host = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
        self.result[OTHER] = max(host - sum(self.result.values()), 0.0)
        self.result[HOST] = host
        return self.result


HOST = "host, all processes"
OTHER = "other processes (not part of the benchmark)"


async def wait_for_quiet(*, max_wait_s: float, threshold: float = 0.25) -> float:
    """Wait until the host uses less than ``threshold`` cores over 3 s, at most ``max_wait_s``;
    return the load seen last (other sessions may share this machine)."""
    deadline = time.monotonic() + max_wait_s
    while True:
        busy0, total0 = host_cpu()
        await asyncio.sleep(3)
        busy1, total1 = host_cpu()
        load = (busy1 - busy0) / (total1 - total0) * (os.cpu_count() or 1)
        if load < threshold or time.monotonic() > deadline:
            return load
        print(f"   the host is busy ({load:.2f} cores in use by others); waiting", flush=True)


# --- what ran where --------------------------------------------------------------------------


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _host() -> dict[str, str]:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    mem = re.search(r"^MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text(), re.M)
    mem_kb = int(mem[1]) if mem else 0
    jars = sorted((REPO / ".local" / "kafka" / "libs").glob("kafka-server-[0-9]*.jar"))
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "services"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.splitlines()
    return {
        "CPU": model[1].strip() if model else platform.processor(),
        "cores (nproc)": str(os.cpu_count()),
        "memory": f"{mem_kb / 1024 / 1024:.1f} GiB",
        "kernel": platform.release(),
        "load average before the run": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
        "kafka": jars[-1].stem.removeprefix("kafka-server-") if jars else "unknown",
        "code": f"git {head}"
        + (f" with {len(dirty)} uncommitted changes under services/" if dirty else ", clean"),
    }


async def machine(ends: Endpoints) -> dict[str, str]:
    host = _host()
    conn = await asyncpg.connect(ends.database_url)
    try:
        pg = await conn.fetchval("SHOW server_version")
        pg_settings = {
            name: await conn.fetchval(f"SHOW {name}")
            for name in ("fsync", "synchronous_commit", "shared_buffers", "max_connections")
        }
    finally:
        await conn.close()
    return {
        **{k: v for k, v in host.items() if k != "kafka"},
        "Python": sys.version.split()[0],
        "Kafka": f"{host['kafka']} (native KRaft, one node, deploy/local)",
        "PostgreSQL": f"{pg} (" + ", ".join(f"{k}={v}" for k, v in pg_settings.items()) + ")",
        "aiokafka": _version("aiokafka"),
        "faust-streaming": _version("faust-streaming"),
        "asyncpg": _version("asyncpg"),
        "pydantic": _version("pydantic"),
        "orderstate": _version("orderstate"),
    }


SPEED: list[tuple[str, float]] = []


@contextlib.contextmanager
def phase(title: str) -> Iterator[None]:
    """A titled phase; a fixed CPU workload is timed first (see hotpaths.speed_probe)."""
    import hotpaths

    SPEED.append((title, hotpaths.speed_probe()))
    started = time.monotonic()
    print(f"\n== {title}", flush=True)
    yield
    print(f"   ({time.monotonic() - started:.1f} s)", flush=True)


def _all_cpu() -> dict[int, tuple[str, float]]:
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                text = (entry / "stat").read_text()
            except OSError:
                continue
            name = text[text.index("(") + 1 : text.rindex(")")]
            f = text[text.rindex(")") + 2 :].split()
            found[int(entry.name)] = (name, (int(f[11]) + int(f[12])) / _CLK_TCK)
    return found


async def cpu_timeline(path: Path, stop: asyncio.Event, interval_s: float = 1.0) -> None:
    """Every ``interval_s``, the processes that used CPU in that interval (cores), as lines
    of ``<seconds> <pid>:<name>=<cores> ...`` in ``path``; for reading after a run."""
    started = time.monotonic()
    before = _all_cpu()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), interval_s)
        now = _all_cpu()
        used = sorted(
            (
                (cpu - before.get(pid, (name, 0.0))[1], pid, name)
                for pid, (name, cpu) in now.items()
            ),
            reverse=True,
        )
        busy = " ".join(f"{pid}:{name}={c / interval_s:.2f}" for c, pid, name in used if c > 0)
        _append(path, f"{time.monotonic() - started:7.1f} {busy}\n")
        before = now


def show_page(text: str, path: Path, *, write: bool) -> None:
    """Print a results page, and write it to ``path`` unless the run was told not to."""
    print(text)
    if write:
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(REPO)}")


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


# --- the code of another commit ----------------------------------------------------------------


def git(*args: str) -> str:
    """A git command in this checkout; its output, stripped."""
    return subprocess.run(
        ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.strip()


def unpack_services(commit: str, into: Path) -> Path:
    """``services/`` as of ``commit``, unpacked under ``into`` (``git archive``); returns
    ``into``, so ``into / "services"`` goes first on a PYTHONPATH to run that commit's code."""
    done = subprocess.run(
        ["git", "archive", "--format=tar", commit, "services"],
        cwd=REPO,
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(
            f"bench: cannot unpack services/ of {commit!r}: {done.stderr.decode().strip()}"
        )
    archive = done.stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into
