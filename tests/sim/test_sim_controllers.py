"""Controllers on objects created through the API: DaemonSets, OrderedReady StatefulSets, ReplicaSet history."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from simview import SimView

from bot.devtools.simcluster import SimCluster


def workload(kind: str, name: str, image: str, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "main", "image": image}
    if "env" in spec:
        container["env"] = spec.pop("env")
    template = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}
    return {
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": name}}, "template": template, **spec},
    }


def test_daemonset_runs_one_pod_per_node_and_rolls(apps: client.AppsV1Api, sim: SimCluster, view: SimView) -> None:
    apps.create_namespaced_daemon_set("default", workload("DaemonSet", "node-agent", "agent:1"))
    pods = view.pods("default", "node-agent")
    assert sorted(p["spec"]["nodeName"] for p in pods) == ["worker-1", "worker-2"]
    status = sim.get_object("apps/v1", "daemonsets", "default", "node-agent")["status"]
    assert (status["desiredNumberScheduled"], status["numberReady"], status["updatedNumberScheduled"]) == (2, 2, 2)
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": "agent:2"}]}}}}
    apps.patch_namespaced_daemon_set("node-agent", "default", patch)
    images = [view.status(p, "main")["image"] for p in view.pods("default", "node-agent")]
    assert images == ["agent:2", "agent:2"]
    revisions = [r.revision for r in apps.list_namespaced_controller_revision("default").items]
    assert sorted(revisions) == [1, 2]


def test_ordered_ready_statefulset_waits_for_each_pod(
    apps: client.AppsV1Api, core: client.CoreV1Api, view: SimView
) -> None:
    env = [{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "db-token", "key": "token"}}}]
    apps.create_namespaced_stateful_set(
        "default", workload("StatefulSet", "db", "db:1", replicas=2, env=env, serviceName="db")
    )
    pods = view.pods("default", "db")
    assert [p["metadata"]["name"] for p in pods] == ["db-0"]  # db-1 waits for db-0 to be Running and Ready
    waiting = view.status(pods[0], "main")["state"]["waiting"]
    assert waiting == {"reason": "CreateContainerConfigError", "message": 'secret "db-token" not found'}
    core.create_namespaced_secret("default", {"metadata": {"name": "db-token"}, "stringData": {"token": "t"}})
    pods = view.pods("default", "db")
    assert [p["metadata"]["name"] for p in pods] == ["db-0", "db-1"]
    assert all(view.ready(p) for p in pods)
    assert pods[1]["spec"]["hostname"] == "db-1"
    assert pods[1]["metadata"]["labels"]["apps.kubernetes.io/pod-index"] == "1"


def test_recreate_strategy_and_revision_history_limit(apps: client.AppsV1Api, view: SimView) -> None:
    body = workload("Deployment", "batch", "batch:0", replicas=1, revisionHistoryLimit=2, strategy={"type": "Recreate"})
    apps.create_namespaced_deployment("default", body)
    for version in range(1, 5):
        patch = {"spec": {"template": {"spec": {"containers": [{"name": "main", "image": f"batch:{version}"}]}}}}
        apps.patch_namespaced_deployment("batch", "default", patch)
    revisions = sorted(
        int(rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"])
        for rs in view.replicasets("default", "batch")
    )
    assert revisions == [3, 4, 5]  # the current one plus two old ones
    assert [view.status(p, "main")["image"] for p in view.pods("default", "batch")] == ["batch:4"]
    deployment = apps.read_namespaced_deployment("batch", "default")
    assert deployment.metadata.generation == 5
    assert deployment.status.observed_generation == 5


def test_orphaning_keeps_the_replicasets(apps: client.AppsV1Api, view: SimView) -> None:
    apps.delete_namespaced_deployment("catalog", "shop", propagation_policy="Orphan")
    replicasets = view.replicasets("shop", "catalog")
    assert len(replicasets) == 1
    assert "ownerReferences" not in replicasets[0]["metadata"]
    assert len(view.pods("shop", "catalog")) == 3
