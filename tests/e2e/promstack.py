"""Pieces of the end-to-end alert path: a kube-state-metrics / cAdvisor exposition, Prometheus and Alertmanager.

Prometheus and Alertmanager are the Debian packages' binaries, run as subprocesses with their own configuration,
data directory and a loopback port; their output goes to a log file whose tail is shown when a test fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import yaml
from aiohttp import web

from bot.devtools.slackstub.threaded import LoopThread
from bot.wiring import SERVICES, Services

REPO = Path(__file__).resolve().parents[2]
RULES_FILE = REPO / "deploy" / "alerts" / "crashloop-rules.yaml"
BINARIES = {
    "prometheus": "/usr/bin/prometheus",
    "alertmanager": "/usr/bin/prometheus-alertmanager",
    "promtool": "/usr/bin/promtool",
    "amtool": "/usr/bin/amtool",
}
INSTALL_HINT = ".ci/run installs them (apt-get install --no-install-recommends prometheus prometheus-alertmanager)"


@contextlib.contextmanager
def serve_in_thread(app: web.Application, name: str) -> Iterator[int]:
    """Serve `app` on a loopback port from an event loop of its own (a thread); yields the port."""
    loop = LoopThread(name=name)
    loop.start()
    try:
        runner = web.AppRunner(app, access_log=None)
        loop.run(runner.setup())
        try:
            loop.run(web.TCPSite(runner, "127.0.0.1", 0).start())
            yield int(runner.addresses[0][1])
        finally:
            loop.run(runner.cleanup())
    finally:
        loop.close()


def missing_binaries() -> list[str]:
    """The binaries of the Prometheus/Alertmanager packages that are not installed here."""
    return [path for path in BINARIES.values() if not (Path(path).is_file() and shutil.which(path))]


def free_port() -> int:
    """A loopback port nothing listens on right now (the kernel's pick for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the alert rules ---------------------------------------------------------------------------------------------


def fast_rules(source: Path = RULES_FILE) -> dict[str, Any]:
    """The product's rule file with every `for:` at 0s and every group evaluated each second; expressions kept."""
    rules = yaml.safe_load(source.read_text())
    for group in rules["groups"]:
        group["interval"] = "1s"
        for rule in group["rules"]:
            if "for" in rule:
                rule["for"] = "0s"
    return rules


def alert_names(rules: dict[str, Any]) -> set[str]:
    return {rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule}


# --- what Prometheus scrapes -------------------------------------------------------------------------------------


@dataclass
class CrashLoopExposition:
    """kube-state-metrics and cAdvisor series for one pod: crash-looping (the default) or recovered.

    While crash-looping, the container waits in CrashLoopBackOff, its restart counter rises on every scrape, the
    pod is NotReady and the container's working set is at 97% of its memory limit (an OOMKilled JVM). Recovered,
    the waiting reason is gone, the counter stays put, the pod is Ready and memory is at 40% of the limit.
    """

    namespace: str
    pod: str
    container: str
    restarts: int
    memory_limit_bytes: int
    restarts_per_scrape: int = 3  # so that `increase(...[5m]) > 3` holds from the second sample on
    crashlooping: bool = True
    scrapes: int = 0
    port: int = 0  # where it is served

    def __post_init__(self) -> None:
        self._lock = threading.Lock()  # served from another thread: a scrape sees one state or the other

    def recover(self) -> None:
        with self._lock:
            self.crashlooping = False

    def _labels(self, **extra: str) -> str:
        labels = {"namespace": self.namespace, "pod": self.pod, **extra}
        return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"

    def kube_state_metrics(self) -> str:
        with self._lock:
            return self._kube_state_metrics()

    def _kube_state_metrics(self) -> str:
        self.scrapes += 1
        if self.crashlooping:
            self.restarts += self.restarts_per_scrape
        c = self.container
        lines = [
            "# HELP kube_pod_container_status_waiting_reason Describes the reason the container is in waiting state.",
            "# TYPE kube_pod_container_status_waiting_reason gauge",
        ]
        if self.crashlooping:
            lines.append(
                f"kube_pod_container_status_waiting_reason{self._labels(container=c, reason='CrashLoopBackOff')} 1"
            )
        lines += [
            "# HELP kube_pod_container_status_restarts_total The number of container restarts per container.",
            "# TYPE kube_pod_container_status_restarts_total counter",
            f"kube_pod_container_status_restarts_total{self._labels(container=c)} {self.restarts}",
            "# HELP kube_pod_status_ready Describes whether the pod is ready to serve requests.",
            "# TYPE kube_pod_status_ready gauge",
        ]
        ready = {"true": 0, "false": 1} if self.crashlooping else {"true": 1, "false": 0}
        for condition in ("true", "false", "unknown"):
            lines.append(f"kube_pod_status_ready{self._labels(condition=condition)} {ready.get(condition, 0)}")
        return "\n".join(lines) + "\n"

    def cadvisor(self) -> str:
        with self._lock:
            share = 0.97 if self.crashlooping else 0.40
        labels = self._labels(container=self.container, image="registry.example.com/shop/app")
        lines = [
            "# HELP container_spec_memory_limit_bytes Memory limit for the container.",
            "# TYPE container_spec_memory_limit_bytes gauge",
            f"container_spec_memory_limit_bytes{labels} {self.memory_limit_bytes}",
            "# HELP container_memory_working_set_bytes Current working set in bytes.",
            "# TYPE container_memory_working_set_bytes gauge",
            f"container_memory_working_set_bytes{labels} {int(self.memory_limit_bytes * share)}",
        ]
        return "\n".join(lines) + "\n"

    def app(self) -> web.Application:
        async def ksm(_request: web.Request) -> web.Response:
            return web.Response(text=self.kube_state_metrics(), content_type="text/plain", charset="utf-8")

        async def cadvisor(_request: web.Request) -> web.Response:
            return web.Response(text=self.cadvisor(), content_type="text/plain", charset="utf-8")

        app = web.Application()
        app.add_routes([web.get("/metrics", ksm), web.get("/metrics/cadvisor", cadvisor)])
        return app

    @contextlib.contextmanager
    def served(self) -> Iterator[CrashLoopExposition]:
        """Serve on a loopback port (`port`) from an event loop of its own, in a thread.

        Not on the test's loop: there the bot's own work could delay an answer past the 1s scrape timeout, and a
        failed scrape makes the series stale, which resolves alerts the test expects to keep firing.
        """
        with serve_in_thread(self.app(), "exposition") as port:
            self.port = port
            yield self


# --- configuration files -----------------------------------------------------------------------------------------


def prometheus_config(*, exporter_port: int, alertmanager_port: int, cluster: str, rule_file: Path) -> dict[str, Any]:
    target = {"targets": [f"127.0.0.1:{exporter_port}"]}
    return {
        "global": {
            "scrape_interval": "1s",
            "scrape_timeout": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"cluster": cluster},
        },
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {"job_name": "kube-state-metrics", "honor_labels": True, "static_configs": [target]},
            {"job_name": "cadvisor", "metrics_path": "/metrics/cadvisor", "static_configs": [target]},
        ],
    }


def alertmanager_config(*, webhook_url: str, token_file: Path) -> dict[str, Any]:
    return {
        "route": {
            "receiver": "crashloop-bot",
            "group_by": ["alertname", "namespace", "pod"],
            "group_wait": "1s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {
                "name": "crashloop-bot",
                "webhook_configs": [
                    {
                        "url": webhook_url,
                        "send_resolved": True,
                        "http_config": {"authorization": {"type": "Bearer", "credentials_file": str(token_file)}},
                    }
                ],
            }
        ],
    }


def write_yaml(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


# --- the bot ---------------------------------------------------------------------------------------------------


@dataclass
class ServedBot:
    """The bot's application, served on a loopback TCP port."""

    app: web.Application
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def services(self) -> Services:
        return self.app[SERVICES]


# --- the servers -------------------------------------------------------------------------------------------------


class Server:
    """A binary of the stack running as a subprocess on a loopback port, its output in `log`."""

    def __init__(self, name: str, argv: list[str], *, port: int, config: Path, log: Path) -> None:
        self.name, self.port, self.config, self.log = name, port, config, log
        self.url = f"http://127.0.0.1:{port}"
        with log.open("wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def wait_ready(self, within: float = 15.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                if response.status == 200:
                    return
            time.sleep(0.05)
        raise RuntimeError(f"{self.name} was not ready within {within}s:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"
        return "\n".join(text.splitlines()[-lines:])


def scrape_health(prometheus: Server) -> str:
    """Each target's `up` samples of the last 2 minutes (a 0 is a failed scrape), for failure reports."""
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": "up[2m]"})
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            result = json.load(response)["data"]["result"]
    except (OSError, ValueError, KeyError) as exc:
        return f"(not available: {exc})"
    lines = []
    for series in result:
        values = "".join(str(int(float(v))) for _, v in series["values"])
        lines.append(f"{series['metric'].get('job')}: {values}")
    return "\n".join(lines) or "(no scrapes yet)"


def start_alertmanager(directory: Path, config: Path) -> Server:
    port = free_port()
    argv = [
        BINARIES["alertmanager"],
        f"--config.file={config}",
        f"--storage.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}/",
        "--cluster.listen-address=",
        "--log.level=debug",
    ]
    return _started(Server("alertmanager", argv, port=port, config=config, log=directory / "alertmanager.log"))


def start_prometheus(directory: Path, config: Path) -> Server:
    port = free_port()
    argv = [
        BINARIES["prometheus"],
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        f"--web.external-url=http://127.0.0.1:{port}/",
        # the test fast-forwards past the rules' 5m/10m windows by deleting the pod's history (see forget_before)
        "--web.enable-admin-api",
    ]
    return _started(Server("prometheus", argv, port=port, config=config, log=directory / "prometheus.log"))


def _started(server: Server) -> Server:
    try:
        server.wait_ready()
    except BaseException:
        server.stop()
        raise
    return server


async def forget_before(prometheus: Server, matcher: str, end: float) -> None:
    """Delete the samples of the series `matcher` selects up to `end` (unix seconds) from Prometheus' TSDB."""
    params = {"match[]": matcher, "end": f"{end:.3f}"}
    async with (
        aiohttp.ClientSession() as session,
        session.post(f"{prometheus.url}/api/v1/admin/tsdb/delete_series", params=params) as response,
    ):
        assert response.status == 204, f"{response.status}: {await response.text()}"


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        response.raise_for_status()
        return await response.json()


async def run_tool(*argv: str) -> tuple[int, str]:
    """Run promtool / amtool: exit status and combined output (for the assertion message)."""
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, stdin=asyncio.subprocess.DEVNULL
    )
    output, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, output.decode(errors="replace")
