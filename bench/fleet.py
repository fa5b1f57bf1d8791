"""Shared by the storm and recovery benchmarks: many workloads, a real `crashloop serve`, senders, measurements.

The bot runs as its own process (as in production: its RSS is its own, SIGKILL is real); the simulated cluster
holds N copies of the `ledger-api` scenario (an OOMKilled Deployment) named `ledger-000`…; the Slack stand-in
limits the channel to one message per second (429 with Retry-After beyond it), as Slack does.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bot.devtools.simcluster.scenarios import Scenario, parse_scenario

TOKEN = "bench-token"
CHANNEL = "C0INCIDENTS"
NAMESPACE = "shop"


def workload(n: int) -> str:
    return f"ledger-{n:03d}"


def scenarios(count: int) -> list[Scenario]:
    """`count` copies of the ledger-api scenario, each its own Deployment."""
    text = (resources.files("bot.devtools.simcluster") / "scenarios" / "ledger-api.yaml").read_text()
    return [parse_scenario(yaml.safe_load(text.replace("ledger-api", workload(n))), workload(n)) for n in range(count)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class BotProcess:
    """`crashloop serve` in a subprocess of its own."""

    tmp: Path
    kubeconfig: Path
    slack_api_url: str
    database_url: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0
    tree: Path | None = None  # run the bot's code from this checkout (the benchmarks compare before/after)
    config_extra: dict[str, Any] = field(default_factory=dict)  # merged into the config (access, say)
    name: str = "bot"  # its log files: <name>-<start>.log

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        config = {
            "environments": {
                "bench": {
                    "context": "sim",
                    "kubeconfig": str(self.kubeconfig),
                    "namespaces": [NAMESPACE],
                    "channel": CHANNEL,
                }
            },
            **self.config_extra,
        }
        path = self.tmp / f"{self.name}.yaml"
        path.write_text(yaml.safe_dump(config))
        env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-test",
            "SLACK_SIGNING_SECRET": "s",
            "CRASHLOOP_WEBHOOK_TOKEN": TOKEN,
            "CRASHLOOP_DATABASE_URL": self.database_url,
            "SLACK_API_URL": self.slack_api_url,
            "CRASHLOOP_SECRETS_DIR": str(self.tmp / "none"),
            # the keyed audit chain needs a key (a throwaway one for a benchmark's throwaway database)
            "CRASHLOOP_AUDIT_KEY": os.environ.get("CRASHLOOP_AUDIT_KEY")
            or "bench-audit-key-0123456789abcdef0123456789",
        }
        self.starts += 1
        log = (self.tmp / f"{self.name}-{self.starts}.log").open("wb")
        command = [sys.executable, "-m", "bot.cli.main", "--config", str(path), "serve"]
        command += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tree)

    async def wait_ready(self, http: aiohttp.ClientSession, within: float = 60.0) -> float:
        """Seconds until /readyz answers 200."""
        started = time.monotonic()
        while time.monotonic() - started < within:
            try:
                async with http.get(f"{self.url}/readyz") as response:
                    if response.status == 200:
                        return time.monotonic() - started
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise TimeoutError(f"the bot was not ready within {within}s; see {self.tmp}/{self.name}-{self.starts}.log")

    def status_kb(self, field_name: str) -> int:
        """A /proc/<pid>/status field in kB (VmRSS: now, VmHWM: the peak so far)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return int(line.split()[1])
        raise KeyError(field_name)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def storm_alerts(workloads: int, per_workload: int) -> list[dict[str, Any]]:
    """`workloads * per_workload` firing alerts, interleaved across workloads, each with its own fingerprint."""
    out = []
    for k in range(per_workload):
        for w in range(workloads):
            labels = {
                "alertname": f"PodCrashLoopBackOff{k % 4}",
                "namespace": NAMESPACE,
                "deployment": workload(w),
                "severity": "critical",
                "replica": str(k),
            }
            out.append(
                {"status": "firing", "labels": labels, "startsAt": "2026-12-03T10:00:00Z", "fingerprint": f"s-{w}-{k}"}
            )
    return out


async def send(
    http: aiohttp.ClientSession, url: str, alerts: list[dict[str, Any]], *, per_delivery: int, concurrency: int
) -> list[float]:
    """Deliver `alerts` in deliveries of `per_delivery`, `concurrency` at a time; returns each ack's seconds."""
    gate = asyncio.Semaphore(concurrency)
    headers = {"Authorization": f"Bearer {TOKEN}"}

    async def one(chunk: list[dict[str, Any]]) -> float:
        body = {"version": "4", "status": "firing", "alerts": chunk}
        async with gate:
            started = time.perf_counter()
            async with http.post(f"{url}/alerts/alertmanager", json=body, headers=headers) as response:
                await response.read()
                assert response.status == 202, response.status
            return time.perf_counter() - started

    chunks = [alerts[i : i + per_delivery] for i in range(0, len(alerts), per_delivery)]
    return list(await asyncio.gather(*(one(c) for c in chunks)))


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def roots_by_workload(messages: list[Any]) -> dict[str, int]:
    """How many root messages each workload got."""
    counts: dict[str, int] = {}
    for message in messages:
        name = ((message.metadata or {}).get("event_payload") or {}).get("workload", "?")
        counts[name] = counts.get(name, 0) + 1
    return counts


def pacing(calls: list[Any], channel: str) -> tuple[int, float]:
    """(most messages in any 1-second window, smallest gap in seconds) over the messages Slack accepted."""
    times = sorted(
        c.at
        for c in calls
        if c.method in ("chat.postMessage", "chat.update") and c.ok and c.args.get("channel") == channel
    )
    if len(times) < 2:
        return len(times), float("inf")
    most, start = 1, 0
    for end in range(len(times)):
        while times[end] - times[start] >= 1.0:
            start += 1
        most = max(most, end - start + 1)
    return most, min(b - a for a, b in itertools.pairwise(times))
