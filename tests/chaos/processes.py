"""orderstate processes as the README starts them, each a separate OS process with its own
log file, that the fault injector can kill, freeze and replace."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Fleet", "Proc"]

ORDERSTATE = str(Path(sys.executable).parent / "orderstate")


@dataclass
class Proc:
    role: str
    name: str
    args: list[str]
    popen: subprocess.Popen[bytes]
    started: float
    # Set when the injector or the harness ends it on purpose: the supervisor leaves it alone.
    ending: bool = False

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if sig in (signal.SIGKILL, signal.SIGTERM):
            self.ending = True
        if self.alive():
            os.kill(self.pid, sig)


@dataclass
class Fleet:
    env: dict[str, str]
    logs: Path
    procs: dict[str, Proc] = field(default_factory=dict)
    counter: int = 0
    # Exit codes of processes that ended, by name, for the report.
    exits: list[tuple[str, int]] = field(default_factory=list)

    def start(self, role: str, *args: str, name: str | None = None) -> Proc:
        self.counter += 1
        name = name or f"{role}-{self.counter}"
        self.logs.mkdir(parents=True, exist_ok=True)
        log = (self.logs / f"{name}.{self.counter}.log").open("wb")
        env = self.env
        if role == "worker":
            # Each worker keeps its name across restarts as its group.instance.id, as a
            # StatefulSet's pod does (the Helm chart's worker): a replacement takes the dead
            # member's place without a rebalance.
            env = {**env, "ORDERSTATE_KAFKA_GROUP_INSTANCE_ID": name}
        popen = subprocess.Popen(
            [ORDERSTATE, role, *args],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        log.close()
        proc = Proc(role, name, list(args), popen, time.monotonic())
        self.procs[name] = proc
        return proc

    def restart(self, proc: Proc) -> Proc:
        self.reap(proc)
        return self.start(proc.role, *proc.args, name=proc.name)

    def reap(self, proc: Proc) -> None:
        try:
            code = proc.popen.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.popen.kill()
            code = proc.popen.wait()
        self.exits.append((proc.name, code))

    async def supervise(self, stop: "asyncio.Event") -> None:
        """Restart a process that ended on its own, a second after, as Kubernetes restarts a
        container (a worker started while the broker is down gives up after a while)."""
        while not stop.is_set():
            for proc in list(self.procs.values()):
                if not proc.alive() and not proc.ending:
                    self.exits.append((proc.name, proc.popen.returncode))
                    proc.ending = True
                    await asyncio.sleep(1)
                    if not stop.is_set():
                        self.start(proc.role, *proc.args, name=proc.name)
            await asyncio.sleep(0.5)

    def of(self, role: str) -> list[Proc]:
        return [p for p in self.procs.values() if p.role == role and p.alive()]

    def stop_all(self, timeout: float = 40) -> None:
        for proc in self.procs.values():
            proc.ending = True
        for proc in self.procs.values():
            if proc.alive():
                proc.signal(signal.SIGCONT)
                proc.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs.values():
            try:
                proc.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
