"""kubectl v1.32 against the sim: get, describe, logs, rollout undo/history/restart, set image/resources."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from simview import SimView

from bot.devtools.simcluster import SimCluster

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def test_get_pods_prints_server_side_columns(kubectl: Kubectl, open_view: SimView) -> None:
    out = kubectl("get", "pods", "-n", "shop").stdout.splitlines()
    assert out[0].split() == ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
    failing = open_view.failing_pod("shop", "web-app")["metadata"]["name"]
    row = next(line.split() for line in out if line.startswith(failing))
    assert row[1:4] == ["0/1", "CrashLoopBackOff", "5"]
    assert re.fullmatch(r"4m(\d+s)?", row[-1])  # created four minutes before the sim started
    payments = kubectl("get", "pods", "-n", "payments", "-o", "wide").stdout
    assert "Init:CrashLoopBackOff" in payments
    assert "CreateContainerConfigError" in payments
    assert "worker-" in payments


def test_describe_pod_shows_last_state_and_events(kubectl: Kubectl, open_view: SimView) -> None:
    pod = open_view.failing_pod("shop", "ledger-api")["metadata"]["name"]
    out = kubectl("describe", "pod", pod, "-n", "shop").stdout
    assert "Reason:       CrashLoopBackOff" in out
    assert "Reason:       OOMKilled" in out
    assert "Exit Code:    137" in out
    assert "Restart Count:  14" in out
    assert "memory:  256Mi" in out
    assert f"Back-off restarting failed container app in pod {pod}_shop(" in out


def test_logs_previous(kubectl: Kubectl, open_view: SimView) -> None:
    pod = open_view.failing_pod("shop", "web-app")["metadata"]["name"]
    out = kubectl("logs", pod, "-n", "shop", "--previous").stdout
    assert "panic: runtime error: invalid memory address or nil pointer dereference" in out
    error = kubectl("logs", "-n", "payments", "fraud-scorer-0", check=False)
    assert error.returncode == 1
    assert 'container "scorer" in pod "fraud-scorer-0" is waiting to start: PodInitializing' in error.stderr


def test_rollout_history_and_undo(kubectl: Kubectl, open_sim: SimCluster, open_view: SimView) -> None:
    history = kubectl("rollout", "history", "deploy/web-app", "-n", "shop").stdout
    assert [line.split()[0] for line in history.splitlines()[2:] if line.strip()] == ["6", "7"]
    assert "deploy web-app 2.3.1 (pipeline 1791)" in history
    open_sim.clear_requests()
    assert "rolled back" in kubectl("rollout", "undo", "deploy/web-app", "-n", "shop").stdout
    patch = next(r for r in open_sim.requests if r.method == "PATCH")
    assert patch.content_type == "application/json-patch+json"
    assert patch.body[0]["op"] == "replace"
    assert patch.body[0]["path"] == "/spec/template"
    deployment = open_sim.get_object("apps/v1", "deployments", "shop", "web-app")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].endswith(":2.3.1")
    assert deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"] == "8"
    assert deployment["metadata"]["annotations"]["kubernetes.io/change-cause"] == "deploy web-app 2.3.1 (pipeline 1791)"
    pods = open_view.pods("shop", "web-app")
    assert len(pods) == 2
    assert all(open_view.ready(p) and open_view.status(p, "app")["restartCount"] == 0 for p in pods)
    after = kubectl("rollout", "history", "deploy/web-app", "-n", "shop").stdout
    assert [line.split()[0] for line in after.splitlines()[2:] if line.strip()] == ["7", "8"]
    assert (
        "successfully rolled out" in kubectl("rollout", "status", "deploy/web-app", "-n", "shop", "--timeout=5s").stdout
    )


def test_set_resources_heals_ledger_api(kubectl: Kubectl, open_sim: SimCluster, open_view: SimView) -> None:
    kubectl("set", "resources", "deploy/ledger-api", "-n", "shop", "-c", "app", "--limits=memory=512Mi")
    patch = [r for r in open_sim.requests if r.method == "PATCH"][-1]
    assert patch.content_type == "application/strategic-merge-patch+json"
    assert patch.body["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["memory"] == "512Mi"
    pods = open_view.pods("shop", "ledger-api")
    assert len(pods) == 2
    assert all(open_view.ready(p) for p in pods)


def test_set_image_heals_report_worker(kubectl: Kubectl, open_view: SimView) -> None:
    kubectl(
        "set", "image", "deploy/report-worker", "-n", "shop", "worker=registry.example.com/shop/report-worker:1.7.2"
    )
    pods = open_view.pods("shop", "report-worker")
    assert [open_view.status(p, "worker")["image"] for p in pods] == [
        "registry.example.com/shop/report-worker:1.7.2"
    ] * 2
    assert all(open_view.ready(p) for p in pods)


def test_rollout_restart_creates_a_new_replicaset(kubectl: Kubectl, open_sim: SimCluster, open_view: SimView) -> None:
    before = {p["metadata"]["name"] for p in open_view.pods("shop", "catalog")}
    kubectl("rollout", "restart", "deploy/catalog", "-n", "shop")
    template = open_sim.get_object("apps/v1", "deployments", "shop", "catalog")["spec"]["template"]
    assert "kubectl.kubernetes.io/restartedAt" in template["metadata"]["annotations"]
    after = {p["metadata"]["name"] for p in open_view.pods("shop", "catalog")}
    assert len(after) == 3
    assert not before & after
    assert len(open_view.replicasets("shop", "catalog")) == 2


def test_get_events_with_a_field_selector(kubectl: Kubectl) -> None:
    out = kubectl("get", "events", "-n", "payments", "--field-selector", "reason=Failed", "-o", "json").stdout
    events = json.loads(out)["items"]
    assert {e["message"] for e in events} == {'Error: secret "gateway-secrets" not found'}
    table = kubectl("get", "events", "-n", "payments", "--field-selector", "reason=Failed").stdout
    assert table.splitlines()[0].split() == ["LAST", "SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]


def test_describe_statefulset_pod_in_init(kubectl: Kubectl) -> None:
    out = kubectl("describe", "pod", "fraud-scorer-0", "-n", "payments").stdout
    assert "Init Containers:" in out
    assert "Reason:       PodInitializing" in out
    assert "Controlled By:  StatefulSet/fraud-scorer" in out


def test_create_from_a_manifest_heals_payments_gateway(kubectl: Kubectl, open_view: SimView, tmp_path: Path) -> None:
    manifest = tmp_path / "secret.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Secret\nmetadata: {name: gateway-secrets, namespace: payments}\n"
        "stringData: {API_KEY: abc}\n"
    )
    assert "secret/gateway-secrets created" in kubectl("create", "-f", str(manifest)).stdout
    pods = open_view.pods("payments", "payments-gateway")
    assert len(pods) == 2
    assert all(open_view.ready(p) for p in pods)
    assert "configured" in kubectl("apply", "-f", str(manifest)).stdout


def test_typed_create_commands_send_protobuf(kubectl: Kubectl, open_sim: SimCluster, open_view: SimView) -> None:
    kubectl("create", "secret", "generic", "gateway-secrets", "-n", "payments", "--from-literal=API_KEY=abc")
    post = next(r for r in open_sim.requests if r.method == "POST")
    assert post.content_type == "application/vnd.kubernetes.protobuf"
    secret = open_sim.get_object("v1", "secrets", "payments", "gateway-secrets")
    assert (secret["data"], secret["type"]) == ({"API_KEY": "YWJj"}, "Opaque")
    assert all(open_view.ready(p) for p in open_view.pods("payments", "payments-gateway"))
    kubectl("create", "serviceaccount", "robot", "-n", "shop")
    assert open_sim.get_object("v1", "serviceaccounts", "shop", "robot")["metadata"]["name"] == "robot"
    refused = kubectl("create", "deployment", "x", "--image=nginx", "-n", "shop", check=False)
    assert "unknown format" in refused.stderr
