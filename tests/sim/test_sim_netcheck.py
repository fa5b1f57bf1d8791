"""Netcheck pods: bare pods labelled `crashloop.dev/netcheck: "true"` run a DNS/TCP check, complete and are deleted."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.rest import ApiException
from simview import SimView

from bot.devtools.simcluster import SimCluster
from bot.devtools.simcluster.netcheck import MISSING_HOST, Network, check, fake_ip, ip_in_logs, reachable, resolve


def netcheck_pod(name: str, host: str, port: int | None = None, deadline: int = 30) -> dict[str, Any]:
    """The manifest the bot's `netcheck` remedy sends."""
    env = [{"name": "CHECK_HOST", "value": host}]
    if port is not None:
        env.append({"name": "CHECK_PORT", "value": str(port)})
    script = 'nslookup "$CHECK_HOST" && nc -z -w 3 "$CHECK_HOST" "$CHECK_PORT"'
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {
                "app.kubernetes.io/managed-by": "crashloop-bot",
                "crashloop.dev/netcheck": "true",
                "crashloop.dev/target": "orders",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "activeDeadlineSeconds": deadline,
            "automountServiceAccountToken": False,
            "containers": [{"name": "netcheck", "image": "busybox:1.36", "env": env, "command": ["sh", "-c", script]}],
        },
    }


def run_netcheck(core: client.CoreV1Api, sim: SimCluster, namespace: str, body: dict[str, Any]) -> str:
    """Create the pod, let its run time pass on the sim clock, and return its log."""
    core.create_namespaced_pod(namespace, body)
    sim.advance_time(2)
    name = body["metadata"]["name"]
    assert core.read_namespaced_pod(name, namespace).status.phase == "Succeeded"
    return str(core.read_namespaced_pod_log(name, namespace))


def test_a_netcheck_pod_runs_completes_and_is_deleted(core: client.CoreV1Api, sim: SimCluster, view: SimView) -> None:
    created = core.create_namespaced_pod("payments", netcheck_pod("netcheck-orders-1a2b3c", "orders-db", 5432))
    assert created.spec.node_name in ("worker-1", "worker-2")
    assert created.spec.volumes is None  # automountServiceAccountToken: false
    sim.advance_time(0.5)  # the lookup is done, the connection attempt is not
    running = core.read_namespaced_pod("netcheck-orders-1a2b3c", "payments")
    assert running.status.phase == "Running"
    assert running.status.container_statuses[0].state.running is not None
    assert core.read_namespaced_pod_log("netcheck-orders-1a2b3c", "payments") == "dns orders-db ok 10.96.0.12\n"

    sim.advance_time(1.5)  # the run (1.5 s of sim clock by default) is over
    done = core.read_namespaced_pod("netcheck-orders-1a2b3c", "payments")
    assert done.status.phase == "Succeeded"
    assert int(done.metadata.resource_version) > int(running.metadata.resource_version)
    status = done.status.container_statuses[0]
    assert (status.name, status.ready, status.started, status.restart_count) == ("netcheck", False, False, 0)
    terminated = status.state.terminated
    assert (terminated.exit_code, terminated.reason) == (0, "Completed")
    assert terminated.finished_at >= terminated.started_at
    assert terminated.container_id == status.container_id
    assert status.image_id.startswith("docker.io/library/busybox@sha256:")
    conditions = {c.type: (c.status, c.reason) for c in done.status.conditions}
    assert conditions["Ready"] == ("False", "PodCompleted")
    assert conditions["ContainersReady"] == ("False", "PodCompleted")
    assert conditions["Initialized"] == ("True", "PodCompleted")
    assert conditions["PodReadyToStartContainers"] == ("False", None)

    log = core.read_namespaced_pod_log("netcheck-orders-1a2b3c", "payments", container="netcheck")
    assert log == "dns orders-db ok 10.96.0.12\ntcp orders-db:5432 fail\n"
    events = {e["reason"] for e in view.events_for("payments", "netcheck-orders-1a2b3c")}
    assert {"Scheduled", "Pulled", "Created", "Started"} <= events

    gone = core.delete_namespaced_pod("netcheck-orders-1a2b3c", "payments")
    assert gone.status.phase == "Succeeded"
    assert gone.metadata.deletion_timestamp is not None
    sim.advance_time(60)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_pod("netcheck-orders-1a2b3c", "payments")
    assert missing.value.status == 404
    assert core.list_namespaced_pod("payments", label_selector="crashloop.dev/netcheck=true").items == []
    assert "Killing" not in {e["reason"] for e in view.events_for("payments", "netcheck-orders-1a2b3c")}


def test_a_dry_run_create_leaves_nothing(core: client.CoreV1Api, sim: SimCluster, view: SimView) -> None:
    answer = core.create_namespaced_pod("payments", netcheck_pod("netcheck-dry", "orders-db", 5432), dry_run="All")
    assert answer.metadata.uid
    sim.advance_time(2)
    assert sim.find_object("v1", "pods", "payments", "netcheck-dry") is None
    assert core.list_namespaced_pod("payments", label_selector="crashloop.dev/netcheck=true").items == []
    assert view.events_for("payments", "netcheck-dry") == []


def test_an_unknown_host_does_not_resolve(core: client.CoreV1Api, sim: SimCluster) -> None:
    body = netcheck_pod("netcheck-replica", "orders-db-replica", 5432)
    assert run_netcheck(core, sim, "payments", body) == "dns orders-db-replica fail\ntcp orders-db-replica:5432 fail\n"
    assert (
        run_netcheck(core, sim, "payments", netcheck_pod("netcheck-dns", "nope.example")) == "dns nope.example fail\n"
    )


def test_tcp_is_ok_once_the_dependency_is_up(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.set_dependency("orders-db:5432", up=True)
    log = run_netcheck(core, sim, "payments", netcheck_pod("netcheck-up", "orders-db", 5432))
    assert log == "dns orders-db ok 10.96.0.12\ntcp orders-db:5432 ok\n"
    fqdn = "orders-db.payments.svc.cluster.local"
    log = run_netcheck(core, sim, "shop", netcheck_pod("netcheck-fqdn", fqdn, 5432))
    assert log == f"dns {fqdn} ok 10.96.0.12\ntcp {fqdn}:5432 ok\n"
    sim.set_dependency("orders-db:5432", up=False)
    log = run_netcheck(core, sim, "payments", netcheck_pod("netcheck-down", "10.96.0.12", 5432))
    assert log == "dns 10.96.0.12 ok 10.96.0.12\ntcp 10.96.0.12:5432 fail\n"


def test_a_service_port_without_a_dependency_entry_is_reachable(core: client.CoreV1Api, sim: SimCluster) -> None:
    cluster_ip = core.read_namespaced_service("catalog", "shop").spec.cluster_ip
    log = run_netcheck(core, sim, "shop", netcheck_pod("netcheck-catalog", "catalog", 8080))
    assert log == f"dns catalog ok {cluster_ip}\ntcp catalog:8080 ok\n"
    log = run_netcheck(core, sim, "shop", netcheck_pod("netcheck-wrong-port", "catalog", 9090))
    assert log == f"dns catalog ok {cluster_ip}\ntcp catalog:9090 fail\n"
    # a bare name only resolves in the pod's own namespace, like the cluster DNS search path
    assert run_netcheck(core, sim, "payments", netcheck_pod("netcheck-elsewhere", "catalog")) == "dns catalog fail\n"


def test_the_active_deadline_stops_a_run_that_would_outlast_it(
    core: client.CoreV1Api, sim: SimCluster, view: SimView
) -> None:
    core.create_namespaced_pod("payments", netcheck_pod("netcheck-slow", "orders-db", 5432, deadline=1))
    sim.advance_time(2)
    pod = core.read_namespaced_pod("netcheck-slow", "payments")
    assert (pod.status.phase, pod.status.reason) == ("Failed", "DeadlineExceeded")
    assert pod.status.message == "Pod was active on the node longer than the specified deadline"
    terminated = pod.status.container_statuses[0].state.terminated
    assert (terminated.exit_code, terminated.reason) == (137, "Error")
    ready = next(c for c in pod.status.conditions if c.type == "Ready")
    assert (ready.status, ready.reason) == ("False", "ContainersNotReady")
    # killed before the TCP check printed anything
    assert core.read_namespaced_pod_log("netcheck-slow", "payments") == "dns orders-db ok 10.96.0.12\n"
    events = {(e["reason"], e["message"]) for e in view.events_for("payments", "netcheck-slow")}
    assert ("DeadlineExceeded", "Pod was active on the node longer than the specified deadline") in events
    assert ("Killing", "Stopping container netcheck") in events


def test_an_invalid_deadline_is_rejected(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.create_namespaced_pod("payments", netcheck_pod("netcheck-bad", "orders-db", 5432, deadline=0))
    assert caught.value.status == 422
    assert json.loads(caught.value.body)["details"]["causes"][0]["field"] == "spec.activeDeadlineSeconds"


def test_watchers_see_the_pod_finish_in_real_time(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.set_netcheck_seconds(0.3)
    core.create_namespaced_pod("payments", netcheck_pod("netcheck-watched", "orders-db", 5432))
    started = time.monotonic()
    phases = []
    stream = watch.Watch().stream(
        core.list_namespaced_pod, "payments", field_selector="metadata.name=netcheck-watched", timeout_seconds=5
    )
    for event in stream:
        phases.append((event["type"], event["object"].status.phase))
        if event["object"].status.phase == "Succeeded":
            break
    assert phases[-1] == ("MODIFIED", "Succeeded")
    assert time.monotonic() - started < 3


def test_instant_netchecks(core: client.CoreV1Api, sim: SimCluster) -> None:
    sim.set_netcheck_seconds(0)
    core.create_namespaced_pod("payments", netcheck_pod("netcheck-now", "orders-db", 5432))
    assert core.read_namespaced_pod("netcheck-now", "payments").status.phase == "Succeeded"
    log = core.read_namespaced_pod_log("netcheck-now", "payments", timestamps=True)
    assert [line.split(" ", 1)[1] for line in log.splitlines()] == [
        "dns orders-db ok 10.96.0.12",
        "tcp orders-db:5432 fail",
    ]


# -- the check itself -------------------------------------------------------------------------------------------

SERVICES = (
    {"metadata": {"name": "db", "namespace": "a"}, "spec": {"clusterIP": "10.96.1.1", "ports": [{"port": 5432}]}},
    {"metadata": {"name": "grpc", "namespace": "a"}, "spec": {"clusterIP": "None", "ports": [{"port": 9090}]}},
    {"metadata": {"name": "ext", "namespace": "a"}, "spec": {"type": "ExternalName", "externalName": "api.vendor.io"}},
)


@pytest.mark.parametrize(
    ("host", "namespace", "ip"),
    [
        ("db", "a", "10.96.1.1"),
        ("db.a", "b", "10.96.1.1"),
        ("db.a.svc", "b", "10.96.1.1"),
        ("DB.a.svc.cluster.local.", "b", "10.96.1.1"),
        ("db", "b", None),
        ("db.a.svc.cluster", "b", None),
        ("grpc", "a", "10.244.1.7"),
        ("ext", "a", "203.0.113.9"),
        ("api.vendor.io", "b", "203.0.113.9"),
        ("cache", "b", fake_ip("cache")),
        ("192.0.2.1", "a", "192.0.2.1"),
        ("nowhere", "a", None),
    ],
)
def test_resolution(host: str, namespace: str, ip: str | None) -> None:
    net = Network(
        SERVICES,
        endpoints={("a", "grpc"): ("10.244.1.7",)},
        dependencies={"api.vendor.io:443": True, "cache:6379": False},
        known_ips={"api.vendor.io": "203.0.113.9"},
    )
    found = resolve(host, namespace, net)
    assert (found.ip if found else None) == ip


def test_reachability() -> None:
    net = Network(SERVICES, dependencies={"db:5432": False, "api.vendor.io:443": True})
    assert not reachable(resolve("db.a.svc.cluster.local", "b", net), "5432", net)
    assert not reachable(resolve("10.96.1.1", "b", net), "5432", net)
    assert reachable(resolve("ext", "a", net), "443", net)
    assert not reachable(resolve("ext", "a", net), "80", net)
    assert not reachable(resolve("grpc", "a", net), "9090", net)  # headless without ready pods: no such host
    assert not reachable(None, "5432", net)
    healthy = Network(SERVICES)
    assert reachable(resolve("db", "a", healthy), "5432", healthy)
    assert not reachable(resolve("db", "a", healthy), "5433", healthy)
    assert fake_ip("cache") == fake_ip("cache") != fake_ip("queue")


def test_dependency_ips_come_from_the_logs() -> None:
    logs = [
        'WARNING connection to server at "orders-db" (10.96.0.12), port 5432 failed: Connection refused',
        "java.net.ConnectException: Connection refused: redis-main/10.96.4.20:6379",
        "dial tcp: lookup cache on 10.96.0.10:53: no such host",
    ]
    assert ip_in_logs("orders-db", logs) == "10.96.0.12"
    assert ip_in_logs("redis-main", logs) == "10.96.4.20"
    assert ip_in_logs("main", logs) is None
    assert ip_in_logs("cache", logs) is None


def test_the_printed_lines_and_when() -> None:
    net = Network(SERVICES)

    def container(**env: str) -> dict[str, Any]:
        return {"name": "netcheck", "env": [{"name": k, "value": v} for k, v in env.items()]}

    both = check(container(CHECK_HOST="db.a", CHECK_PORT="5432"), "b", net, 1.5)
    assert (both.lines, both.exit_code) == (((0.1, "dns db.a ok 10.96.1.1"), (1.5, "tcp db.a:5432 ok")), 0)
    empty_port = check(container(CHECK_HOST="db.a", CHECK_PORT=""), "b", net, 0)  # the port is optional
    assert empty_port.lines == ((0.0, "dns db.a ok 10.96.1.1"),)
    missing = check(container(CHECK_PORT="5432"), "b", net, 1.5)
    assert (missing.lines, missing.exit_code) == (((0.0, MISSING_HOST),), 2)
