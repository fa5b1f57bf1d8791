"""Kubernetes JSON (as the apiserver returns it) → the runbook's evidence model."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from bot.kube.parse import (
    REVISION_ANNOTATION,
    container_specs,
    diff_revisions,
    owner,
    parse_event,
    parse_pod,
    parse_time,
    parse_workload,
    rollout_from_controller_revisions,
    rollout_from_replicasets,
    selector_string,
    sort_events,
)
from runbooks.model import Change, Revision

WEB_UID = "5f0c1c2e-8e4b-4a51-9c47-0d1f3b0e9a11"
OTHER_UID = "0d7f6c2a-1b3c-4d5e-8f90-123456789abc"
OLD_IMAGE = "registry.example.com/shop/web:1.4.2"
NEW_IMAGE = "registry.example.com/shop/web:1.5.0"


def t(hh_mm_ss: str) -> datetime:
    h, m, s = (int(x) for x in hh_mm_ss.split(":"))
    return datetime(2024, 5, 1, h, m, s, tzinfo=UTC)


# --- pods ------------------------------------------------------------------------------------------------------


def pod_json(
    *,
    containers: list[dict[str, Any]],
    init: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    owners: list[dict[str, Any]] | None = None,
    ready: str = "False",
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": "web-7f9c6d5b8-x2x4q",
            "namespace": "shop",
            "uid": "a1b2c3d4-0000-4000-8000-000000000001",
            "creationTimestamp": "2024-05-01T11:30:00Z",
            "labels": {"app": "web", "pod-template-hash": "7f9c6d5b8"} if labels is None else labels,
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "ReplicaSet",
                    "name": "web-7f9c6d5b8",
                    "uid": "9e9e9e9e-1111-4222-8333-444444444444",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ]
            if owners is None
            else owners,
        },
        "spec": {"nodeName": "node-a", "containers": [{"name": c["name"], "image": c["image"]} for c in containers]},
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2024-05-01T11:30:05Z"},
                {"type": "Ready", "status": ready, "lastTransitionTime": "2024-05-01T11:30:05Z"},
                {"type": "ContainersReady", "status": ready, "lastTransitionTime": "2024-05-01T11:30:05Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2024-05-01T11:30:00Z"},
            ],
            "hostIP": "10.0.1.12",
            "podIP": "10.244.1.17",
            "startTime": "2024-05-01T11:30:00Z",
            "initContainerStatuses": init or [],
            "containerStatuses": containers,
        },
    }


APP_OOM = {
    "name": "app",
    "image": NEW_IMAGE,
    "imageID": "registry.example.com/shop/web@sha256:3f1c0a",
    "containerID": "containerd://4bd0f0f2",
    "ready": False,
    "started": False,
    "restartCount": 6,
    "state": {
        "waiting": {
            "reason": "CrashLoopBackOff",
            "message": "back-off 5m0s restarting failed container=app pod=web-7f9c6d5b8-x2x4q_shop(a1b2c3d4)",
        }
    },
    "lastState": {
        "terminated": {
            "exitCode": 137,
            "reason": "OOMKilled",
            "startedAt": "2024-05-01T11:58:01Z",
            "finishedAt": "2024-05-01T11:58:40Z",
            "containerID": "containerd://4bd0f0f2",
        }
    },
}
SIDECAR_FINE = {
    "name": "istio-proxy",
    "image": "docker.io/istio/proxyv2:1.21.0",
    "ready": True,
    "started": True,
    "restartCount": 0,
    "state": {"running": {"startedAt": "2024-05-01T11:30:03Z"}},
    "lastState": {},
}
INIT_DONE = {
    "name": "migrate",
    "image": NEW_IMAGE,
    "ready": True,
    "started": False,
    "restartCount": 0,
    "state": {
        "terminated": {
            "exitCode": 0,
            "reason": "Completed",
            "startedAt": "2024-05-01T11:30:01Z",
            "finishedAt": "2024-05-01T11:30:02Z",
        }
    },
    "lastState": {},
}


def test_crashing_pod_as_the_kubelet_writes_it() -> None:
    p = parse_pod(pod_json(containers=[APP_OOM, SIDECAR_FINE], init=[INIT_DONE]))

    assert p.name == "web-7f9c6d5b8-x2x4q"
    assert p.phase == "Running"
    assert p.node == "node-a"
    assert p.created == t("11:30:00")
    assert p.ready is False
    assert p.revision == "web-7f9c6d5b8"
    # the fine sidecar and the completed init container are left out
    assert [c.name for c in p.containers] == ["app"]
    app = p.containers[0]
    assert app.init is False
    assert app.image == NEW_IMAGE
    assert app.restart_count == 6
    assert app.ready is False
    assert app.started is False
    assert app.waiting_reason == "CrashLoopBackOff"
    assert app.waiting_message is not None
    assert app.waiting_message.startswith("back-off 5m0s restarting failed container=app")
    assert app.terminated is None
    last = app.last_termination
    assert last is not None
    assert (last.reason, last.exit_code, last.signal) == ("OOMKilled", 137, 9)
    assert last.started_at == t("11:58:01")
    assert last.finished_at == t("11:58:40")
    assert app.is_failing
    assert p.restarts == 6


def test_ready_pod_has_no_troubled_containers() -> None:
    app = dict(SIDECAR_FINE, name="app", image=NEW_IMAGE)
    p = parse_pod(pod_json(containers=[app, SIDECAR_FINE], init=[INIT_DONE], ready="True"))

    assert p.ready is True
    assert p.containers == ()


def test_failing_init_container_is_kept_and_marked_as_init() -> None:
    init = {
        "name": "wait-for-db",
        "image": "busybox:1.36",
        "ready": False,
        "restartCount": 4,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-05-01T11:59:00Z"}},
    }
    app = {
        "name": "app",
        "image": NEW_IMAGE,
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "PodInitializing"}},
    }

    p = parse_pod(pod_json(containers=[app], init=[init]))

    by_name = {c.name: c for c in p.containers}
    assert by_name["wait-for-db"].init is True
    assert by_name["wait-for-db"].is_failing
    assert by_name["wait-for-db"].last_termination is not None
    assert by_name["wait-for-db"].last_termination.exit_code == 1
    assert by_name["wait-for-db"].last_termination.signal is None
    assert not by_name["app"].is_failing


def test_init_container_that_completed_after_retries_is_left_out() -> None:
    # the runbook's own "wait-for-db" gate: failed twice while the database started, then completed
    gate = {
        "name": "wait-for-db",
        "image": "busybox:1.36",
        "ready": True,
        "restartCount": 2,
        "state": {"terminated": {"exitCode": 0, "reason": "Completed", "finishedAt": "2024-05-01T11:31:00Z"}},
        "lastState": {"terminated": {"exitCode": 1, "reason": "Error", "finishedAt": "2024-05-01T11:30:40Z"}},
    }
    app = dict(SIDECAR_FINE, name="app", image=NEW_IMAGE)

    p = parse_pod(pod_json(containers=[app], init=[gate], ready="True"))

    assert p.containers == ()


@pytest.mark.parametrize(
    ("terminated", "signal"),
    [
        pytest.param({"exitCode": 137, "reason": "Error"}, 9, id="137-is-sigkill"),
        pytest.param({"exitCode": 143, "reason": "Error"}, 15, id="143-is-sigterm"),
        pytest.param({"exitCode": 139, "reason": "Error"}, 11, id="139-is-sigsegv"),
        pytest.param({"exitCode": 1, "reason": "Error"}, None, id="1-no-signal"),
        pytest.param({"exitCode": 128, "reason": "StartError"}, None, id="128-no-signal"),
        pytest.param({"exitCode": 0, "reason": "Completed", "signal": 15}, 15, id="explicit-signal-kept"),
    ],
)
def test_termination_signal(terminated: dict[str, Any], signal: int | None) -> None:
    status = {
        "name": "app",
        "image": NEW_IMAGE,
        "restartCount": 3,
        "state": {},
        "lastState": {"terminated": terminated},
    }

    (app,) = parse_pod(pod_json(containers=[status])).containers

    assert app.last_termination is not None
    assert app.last_termination.signal == signal
    assert app.last_termination.exit_code == terminated["exitCode"]
    assert app.last_termination.reason == terminated["reason"]


def test_start_error_message_is_kept_and_redacted() -> None:
    status = {
        "name": "app",
        "image": NEW_IMAGE,
        "restartCount": 2,
        "state": {
            "waiting": {
                "reason": "CreateContainerConfigError",
                "message": "invalid env DATABASE_URL=postgres://app:hunter2@db:5432/orders",
            }
        },
        "lastState": {
            "terminated": {
                "exitCode": 128,
                "reason": "StartError",
                "message": 'exec: "/app/server": stat /app/server: no such file or directory; password=hunter2',
            }
        },
    }

    (app,) = parse_pod(pod_json(containers=[status])).containers

    assert app.last_termination is not None
    assert app.last_termination.message is not None
    assert 'exec: "/app/server": stat /app/server: no such file or directory' in app.last_termination.message
    assert "hunter2" not in app.last_termination.message
    assert app.waiting_message is not None
    assert "hunter2" not in app.waiting_message
    assert "postgres://app:" in app.waiting_message


def test_image_pull_back_off_is_kept() -> None:
    status = {
        "name": "app",
        "image": NEW_IMAGE,
        "ready": False,
        "restartCount": 0,
        "state": {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{NEW_IMAGE}"'}},
    }

    (app,) = parse_pod(pod_json(containers=[status])).containers

    assert app.waiting_reason == "ImagePullBackOff"
    assert app.waiting_message == f'Back-off pulling image "{NEW_IMAGE}"'
    assert app.last_termination is None


def test_pod_without_status_is_unknown_and_empty() -> None:
    p = parse_pod({"metadata": {"name": "web-x"}, "spec": {}})

    assert p.phase == "Unknown"
    assert p.containers == ()
    assert p.ready is False
    assert p.created is None


# --- which revision a pod belongs to --------------------------------------------------------------------------


def test_pod_revision_from_its_replicaset_owner() -> None:
    assert parse_pod(pod_json(containers=[APP_OOM])).revision == "web-7f9c6d5b8"


def test_pod_revision_from_the_pod_template_hash_when_there_is_no_owner() -> None:
    p = parse_pod(
        pod_json(containers=[APP_OOM], owners=[], labels={"pod-template-hash": "7f9c6d5b8"}),
        revision_of={"7f9c6d5b8": "web-7f9c6d5b8", "5d8b7c9f4": "web-5d8b7c9f4"},
    )

    assert p.revision == "web-7f9c6d5b8"


def controller_revision(
    name: str, number: int, owner_kind: str, owner_name: str, owner_uid: str, image: str
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "creationTimestamp": f"2024-05-01T1{number}:00:00Z",
            "labels": {"app": owner_name, "controller-revision-hash": name.rsplit("-", 1)[1]},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": owner_kind, "name": owner_name, "uid": owner_uid, "controller": True}
            ],
        },
        "revision": number,
        "data": {
            "spec": {
                "template": {
                    "$patch": "replace",
                    "metadata": {"labels": {"app": owner_name}},
                    "spec": {"containers": [{"name": owner_name, "image": image}]},
                }
            }
        },
    }


def test_statefulset_pod_belongs_to_the_current_controller_revision() -> None:
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop", "uid": WEB_UID}}
    revisions = [
        controller_revision("db-6596ffb49b", 2, "StatefulSet", "db", WEB_UID, "postgres:16.2"),
        controller_revision("db-7c8d9e0f1a", 3, "StatefulSet", "db", WEB_UID, "postgres:16.3"),
    ]
    pod = pod_json(
        containers=[dict(APP_OOM, name="db", image="postgres:16.3")],
        labels={"app": "db", "controller-revision-hash": "db-7c8d9e0f1a", "statefulset.kubernetes.io/pod-name": "db-0"},
        owners=[{"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "db", "uid": WEB_UID, "controller": True}],
    )

    rollout = rollout_from_controller_revisions(sts, revisions)

    assert rollout.current is not None
    assert parse_pod(pod).revision == rollout.current.name


def test_daemonset_pod_belongs_to_the_current_controller_revision() -> None:
    # DaemonSet pods carry only the hash in controller-revision-hash; the ControllerRevision is named <ds>-<hash>
    ds = {"kind": "DaemonSet", "metadata": {"name": "fluentd", "namespace": "shop", "uid": WEB_UID}}
    revisions = [
        controller_revision("fluentd-6d9f8b7c5", 2, "DaemonSet", "fluentd", WEB_UID, "fluentd:1.16.4"),
        controller_revision("fluentd-5cb8d7c9b6", 3, "DaemonSet", "fluentd", WEB_UID, "fluentd:1.16.5"),
    ]
    pod = pod_json(
        containers=[dict(APP_OOM, name="fluentd", image="fluentd:1.16.5")],
        labels={"app": "fluentd", "controller-revision-hash": "5cb8d7c9b6", "pod-template-generation": "3"},
        owners=[{"apiVersion": "apps/v1", "kind": "DaemonSet", "name": "fluentd", "uid": WEB_UID, "controller": True}],
    )

    rollout = rollout_from_controller_revisions(ds, revisions)

    assert rollout.current is not None
    assert rollout.current.name == "fluentd-5cb8d7c9b6"
    assert parse_pod(pod).revision == rollout.current.name


def test_owner_is_the_controlling_reference() -> None:
    pod = pod_json(
        containers=[APP_OOM],
        owners=[
            {"kind": "Node", "name": "node-a", "uid": "n-1"},
            {"kind": "ReplicaSet", "name": "web-7f9c6d5b8", "uid": "rs-1", "controller": True},
        ],
    )

    assert owner(pod) == ("ReplicaSet", "web-7f9c6d5b8")
    assert owner(pod_json(containers=[APP_OOM], owners=[])) is None


# --- selectors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        pytest.param({"matchLabels": {"tier": "frontend", "app": "web"}}, "app=web,tier=frontend", id="match-labels"),
        pytest.param(
            {
                "matchLabels": {"app": "web"},
                "matchExpressions": [
                    {"key": "env", "operator": "In", "values": ["prod", "staging"]},
                    {"key": "track", "operator": "NotIn", "values": ["canary"]},
                    {"key": "release", "operator": "Exists"},
                    {"key": "legacy", "operator": "DoesNotExist"},
                ],
            },
            "app=web,env in (prod,staging),track notin (canary),release,!legacy",
            id="match-expressions",
        ),
        pytest.param(
            {"matchExpressions": [{"key": "app", "operator": "In", "values": ["web"]}]},
            "app in (web)",
            id="expressions-only",
        ),
        pytest.param({}, "", id="empty"),
        pytest.param(None, "", id="none"),
    ],
)
def test_selector_string(selector: dict[str, Any] | None, expected: str) -> None:
    assert selector_string(selector) == expected


# --- events ----------------------------------------------------------------------------------------------------


def test_core_v1_event_with_count() -> None:
    raw = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "name": "web-7f9c6d5b8-x2x4q.17c9a",
            "namespace": "shop",
            "creationTimestamp": "2024-05-01T11:00:00Z",
        },
        "involvedObject": {
            "kind": "Pod",
            "name": "web-7f9c6d5b8-x2x4q",
            "namespace": "shop",
            "fieldPath": "spec.containers{app}",
        },
        "reason": "BackOff",
        "message": "Back-off restarting failed container app in pod web-7f9c6d5b8-x2x4q_shop(a1b2c3d4)",
        "source": {"component": "kubelet", "host": "node-a"},
        "firstTimestamp": "2024-05-01T11:00:05Z",
        "lastTimestamp": "2024-05-01T11:59:30Z",
        "count": 27,
        "type": "Warning",
    }

    e = parse_event(raw)

    assert (e.type, e.reason, e.count) == ("Warning", "BackOff", 27)
    assert e.message.startswith("Back-off restarting failed container app")
    assert e.first_seen == t("11:00:05")
    assert e.last_seen == t("11:59:30")
    assert (e.object_kind, e.object_name) == ("Pod", "web-7f9c6d5b8-x2x4q")
    assert "x27" in e.line()


def test_events_k8s_io_event_with_a_series() -> None:
    raw = {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "web.17c9b", "namespace": "shop", "creationTimestamp": "2024-05-01T11:50:00Z"},
        "eventTime": "2024-05-01T11:50:00.000000Z",
        "series": {"count": 12, "lastObservedTime": "2024-05-01T11:59:30.123456Z"},
        "reportingController": "kubelet",
        "reason": "Unhealthy",
        "regarding": {"kind": "Pod", "name": "web-7f9c6d5b8-x2x4q"},
        "note": 'Liveness probe failed: Get "http://10.244.1.17:8080/healthz": context deadline exceeded',
        "type": "Warning",
        "action": "Killing",
    }

    e = parse_event(raw)

    assert e.count == 12
    assert e.reason == "Unhealthy"
    assert e.message.startswith("Liveness probe failed")
    assert e.first_seen == t("11:50:00")
    assert e.last_seen == datetime(2024, 5, 1, 11, 59, 30, 123456, tzinfo=UTC)
    assert (e.object_kind, e.object_name) == ("Pod", "web-7f9c6d5b8-x2x4q")


def test_event_without_count_or_last_timestamp() -> None:
    raw = {
        "reason": "Pulled",
        "message": f'Successfully pulled image "{NEW_IMAGE}" in 1.2s',
        "type": "Normal",
        "firstTimestamp": "2024-05-01T11:30:01Z",
        "involvedObject": {"kind": "Pod", "name": "web-7f9c6d5b8-x2x4q"},
    }

    e = parse_event(raw)

    assert e.count == 1
    assert e.last_seen == e.first_seen == t("11:30:01")


def test_event_message_is_redacted() -> None:
    e = parse_event(
        {"reason": "Failed", "message": "pull failed: Authorization: Bearer abcdef0123456789abcdef", "count": 2}
    )

    assert "abcdef0123456789abcdef" not in e.message
    assert e.message.startswith("pull failed")


def test_events_are_sorted_oldest_first_by_last_seen() -> None:
    def ev(reason: str, first: str | None, last: str | None, count: int = 1) -> dict[str, Any]:
        return {"reason": reason, "message": reason, "count": count, "firstTimestamp": first, "lastTimestamp": last}

    events = [
        parse_event(ev("BackOff", "2024-05-01T11:00:00Z", "2024-05-01T11:59:00Z", 27)),
        parse_event(ev("Scheduled", "2024-05-01T11:30:00Z", "2024-05-01T11:30:00Z")),
        parse_event(ev("Unhealthy", "2024-05-01T11:31:00Z", "2024-05-01T11:58:00Z", 12)),
        parse_event(ev("Pulled", "2024-05-01T11:30:30Z", None)),
    ]

    ordered = sort_events(events)

    assert [e.reason for e in ordered] == ["Scheduled", "Pulled", "Unhealthy", "BackOff"]
    assert [e.count for e in ordered] == [1, 1, 12, 27]


def test_sorting_mixed_api_versions_of_events() -> None:
    core = parse_event({"reason": "Killing", "message": "m", "lastTimestamp": "2024-05-01T11:59:00Z"})
    new = parse_event({"reason": "Unhealthy", "note": "m", "eventTime": "2024-05-01T11:58:59.999999Z"})
    undated = parse_event({"reason": "Created", "message": "m"})

    assert [e.reason for e in sort_events([core, new, undated])] == ["Created", "Unhealthy", "Killing"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T11:58:40Z", t("11:58:40")),
        ("2024-05-01T11:58:40.123456Z", datetime(2024, 5, 1, 11, 58, 40, 123456, tzinfo=UTC)),
        (None, None),
        ("", None),
        ("yesterday", None),
    ],
)
def test_parse_time(text: str | None, expected: datetime | None) -> None:
    assert parse_time(text) == expected


# --- workloads and container specs ----------------------------------------------------------------------------


def container(name: str = "app", image: str = NEW_IMAGE, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, **extra}


DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "shop", "uid": WEB_UID, "resourceVersion": "48213"},
    "spec": {
        "replicas": 3,
        "selector": {"matchLabels": {"app": "web"}},
        "template": {
            "metadata": {"labels": {"app": "web"}},
            "spec": {
                "serviceAccountName": "web",
                "initContainers": [container("migrate", command=["/app/migrate"])],
                "containers": [
                    container(
                        command=["/app/server"],
                        args=["--port", "8080", "--db-url=postgres://app:hunter2@db:5432/orders"],
                        resources={"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                        env=[
                            {"name": "PORT", "value": "8080"},
                            {
                                "name": "DB_PASSWORD",
                                "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}},
                            },
                            {
                                "name": "FEATURE_FLAGS",
                                "valueFrom": {"configMapKeyRef": {"name": "flags", "key": "flags", "optional": True}},
                            },
                        ],
                        envFrom=[{"secretRef": {"name": "gateway-secrets"}}, {"configMapRef": {"name": "web-config"}}],
                        volumeMounts=[{"name": "tls", "mountPath": "/tls"}, {"name": "bundle", "mountPath": "/etc/b"}],
                        livenessProbe={
                            "httpGet": {"path": "/healthz", "port": 8080},
                            "initialDelaySeconds": 5,
                            "timeoutSeconds": 2,
                        },
                        readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 5, "failureThreshold": 6},
                        startupProbe={"exec": {"command": ["cat", "/tmp/started"]}, "failureThreshold": 30},
                    ),
                    container("istio-proxy", "docker.io/istio/proxyv2:1.21.0", ports=[{"containerPort": 15090}]),
                ],
                "volumes": [
                    {"name": "tls", "secret": {"secretName": "web-tls"}},
                    {
                        "name": "bundle",
                        "projected": {
                            "sources": [
                                {"configMap": {"name": "ca-bundle"}},
                                {"secret": {"name": "extra-certs", "optional": True}},
                            ]
                        },
                    },
                    {"name": "unused", "secret": {"secretName": "not-mounted"}},
                ],
            },
        },
    },
    "status": {"replicas": 3, "readyReplicas": 1},
}


def test_parse_deployment() -> None:
    w = parse_workload("Deployment", DEPLOYMENT)

    assert (w.kind, w.name, w.namespace, w.uid, w.resource_version) == ("Deployment", "web", "shop", WEB_UID, "48213")
    assert (w.replicas, w.ready_replicas) == (3, 1)
    assert w.selector == {"app": "web"}
    assert w.service_account == "web"
    assert [(c.name, c.init) for c in w.containers] == [("migrate", True), ("app", False), ("istio-proxy", False)]


def test_container_spec_resources_env_and_command() -> None:
    app = parse_workload("Deployment", DEPLOYMENT).containers[1]

    assert app.requests == {"cpu": "100m", "memory": "128Mi"}
    assert app.limits == {"memory": "256Mi"}
    assert app.env_names == ("PORT", "DB_PASSWORD", "FEATURE_FLAGS")
    assert app.command == ("/app/server",)
    assert app.args[:2] == ("--port", "8080")
    assert "hunter2" not in " ".join(app.args)


def test_container_spec_refs_to_secrets_and_configmaps() -> None:
    app = parse_workload("Deployment", DEPLOYMENT).containers[1]

    refs = {(r.kind, r.name, r.via, r.env_var, r.key, r.optional) for r in app.refs}
    assert refs == {
        ("Secret", "db-creds", "env", "DB_PASSWORD", "password", False),
        ("ConfigMap", "flags", "env", "FEATURE_FLAGS", "flags", True),
        ("Secret", "gateway-secrets", "envFrom", None, None, False),
        ("ConfigMap", "web-config", "envFrom", None, None, False),
        ("Secret", "web-tls", "volume", None, None, False),
        ("ConfigMap", "ca-bundle", "volume", None, None, False),
        ("Secret", "extra-certs", "volume", None, None, True),
    }
    assert all(r.exists is None for r in app.refs)


def test_container_spec_probes() -> None:
    probes = parse_workload("Deployment", DEPLOYMENT).containers[1].probes

    liveness, readiness, startup = probes["liveness"], probes["readiness"], probes["startup"]
    assert liveness.handler == "httpGet :8080/healthz"
    assert (liveness.initial_delay_seconds, liveness.period_seconds, liveness.timeout_seconds) == (5, 10, 2)
    assert liveness.failure_threshold == 3
    assert liveness.raw["httpGet"] == {"path": "/healthz", "port": 8080}
    assert readiness.handler == "tcpSocket :8080"
    assert (readiness.period_seconds, readiness.failure_threshold, readiness.timeout_seconds) == (5, 6, 1)
    assert startup.handler == "exec cat /tmp/started"
    assert startup.failure_threshold == 30
    assert startup.budget_seconds == 300


def test_grpc_probe_and_a_container_without_probes() -> None:
    specs = container_specs(
        {"containers": [container(livenessProbe={"grpc": {"port": 9090}}), container("sidecar", "envoy:1.30")]}
    )

    assert specs[0].probes["liveness"].handler == "grpc :9090"
    assert specs[1].probes == {}
    assert specs[1].limits == {}


def test_parse_bare_pod_and_daemonset() -> None:
    bare = parse_workload(
        "Pod", {"metadata": {"name": "debug", "namespace": "shop"}, "spec": {"containers": [container()]}}
    )
    ds = parse_workload(
        "DaemonSet",
        {
            "metadata": {"name": "fluentd", "namespace": "logging"},
            "spec": {"template": {"spec": {"serviceAccount": "fluentd", "containers": [container("fluentd")]}}},
            "status": {"desiredNumberScheduled": 5, "numberReady": 4},
        },
    )

    assert [c.name for c in bare.containers] == ["app"]
    assert bare.service_account == "default"
    assert (ds.replicas, ds.ready_replicas) == (5, 4)
    assert ds.service_account == "fluentd"


# --- rollout history ------------------------------------------------------------------------------------------


def replicaset(
    name: str,
    revision: str | None,
    *,
    owner_uid: str = WEB_UID,
    owner_name: str = "web",
    pod_spec: dict[str, Any] | None = None,
    created: str = "2024-05-01T10:00:00Z",
) -> dict[str, Any]:
    annotations = {REVISION_ANNOTATION: revision} if revision is not None else {}
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "creationTimestamp": created,
            "annotations": annotations | {"deployment.kubernetes.io/desired-replicas": "3"},
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "name": owner_name,
                    "uid": owner_uid,
                    "controller": True,
                }
            ],
        },
        "spec": {"template": {"spec": pod_spec or {"containers": [container()]}}},
    }


OLD_SPEC = {
    "serviceAccountName": "default",
    "containers": [
        container(
            image=OLD_IMAGE,
            command=["/app/server"],
            args=["--port", "8080"],
            env=[{"name": "PORT", "value": "8080"}, {"name": "LEGACY_MODE", "value": "1"}],
            resources={"requests": {"cpu": "100m"}, "limits": {"memory": "256Mi"}},
            livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "timeoutSeconds": 5, "failureThreshold": 3},
        ),
        container("istio-proxy", "docker.io/istio/proxyv2:1.21.0"),
    ],
}
NEW_SPEC = {
    "serviceAccountName": "web",
    "containers": [
        container(
            image=NEW_IMAGE,
            command=["/app/server"],
            args=["--port", "8080", "--workers", "4"],
            env=[{"name": "PORT", "value": "8080"}, {"name": "PRICING_URL", "value": "http://pricing"}],
            resources={"limits": {"memory": "512Mi"}},
            livenessProbe={"httpGet": {"path": "/healthz", "port": 8080}, "timeoutSeconds": 1, "failureThreshold": 1},
        ),
        container("cache", "redis:7.2"),
    ],
}


def test_rollout_from_replicasets_keeps_the_deployments_own_revisions_in_order() -> None:
    replicasets = [
        replicaset("web-7f9c6d5b8", "7", pod_spec=NEW_SPEC, created="2024-05-01T11:50:00Z"),
        replicaset("web-5d8b7c9f4", "6", pod_spec=OLD_SPEC, created="2024-04-30T09:00:00Z"),
        replicaset("web-4c7a6b8e3", "5", created="2024-04-20T09:00:00Z"),
        replicaset("web-canary-6b5f", "9", owner_uid=OTHER_UID, owner_name="web-canary"),
        # same name, other uid: a ReplicaSet left from a deleted and re-created Deployment called web
        replicaset("web-1a2b3c4d5", "12", owner_uid=OTHER_UID, owner_name="web"),
    ]

    rollout = rollout_from_replicasets(DEPLOYMENT, replicasets)

    assert [(r.number, r.name) for r in rollout.revisions] == [
        (5, "web-4c7a6b8e3"),
        (6, "web-5d8b7c9f4"),
        (7, "web-7f9c6d5b8"),
    ]
    assert rollout.current is not None
    assert rollout.previous is not None
    assert (rollout.current.number, rollout.previous.number) == (7, 6)
    assert rollout.current.created == t("11:50:00")
    assert rollout.previous.images == {"app": OLD_IMAGE, "istio-proxy": "docker.io/istio/proxyv2:1.21.0"}
    assert rollout.current.service_account == "web"


def test_revision_numbers_sort_as_numbers() -> None:
    replicasets = [replicaset(f"web-r{n}", str(n)) for n in (10, 9, 2)]

    rollout = rollout_from_replicasets(DEPLOYMENT, replicasets)

    assert [r.number for r in rollout.revisions] == [2, 9, 10]
    assert rollout.current is not None
    assert rollout.current.name == "web-r10"
    assert rollout.previous is not None
    assert rollout.previous.name == "web-r9"


def test_owner_matched_by_name_when_the_workload_has_no_uid() -> None:
    workload = {"metadata": {"name": "web", "namespace": "shop"}}
    replicasets = [replicaset("web-a", "1", owner_uid=OTHER_UID), replicaset("api-b", "1", owner_name="api")]

    rollout = rollout_from_replicasets(workload, replicasets)

    assert [r.name for r in rollout.revisions] == ["web-a"]


def test_single_revision_has_no_previous_and_no_changes() -> None:
    rollout = rollout_from_replicasets(DEPLOYMENT, [replicaset("web-7f9c6d5b8", "1")])

    assert rollout.current is not None
    assert rollout.previous is None
    assert rollout.changes == ()


def test_no_replicasets_no_rollout_history() -> None:
    rollout = rollout_from_replicasets(DEPLOYMENT, [])

    assert rollout.revisions == ()
    assert rollout.current is None


def changes_of(old: dict[str, Any], new: dict[str, Any]) -> dict[tuple[str | None, str], Change]:
    rollout = rollout_from_replicasets(
        DEPLOYMENT, [replicaset("web-old", "6", pod_spec=old), replicaset("web-new", "7", pod_spec=new)]
    )
    return {(c.container, c.field): c for c in rollout.changes}


def test_diff_revisions_names_what_the_new_revision_changed() -> None:
    changes = changes_of(OLD_SPEC, NEW_SPEC)

    image = changes[("app", "image")]
    assert (image.before, image.after) == (OLD_IMAGE, NEW_IMAGE)
    removed_env = changes[("app", "env LEGACY_MODE")]
    assert removed_env.after == "unset"
    assert removed_env.before != "unset"
    added_env = changes[("app", "env PRICING_URL")]
    assert added_env.before == "unset"
    assert added_env.after != "unset"
    assert "http://pricing" not in added_env.line()  # a literal value is never shown
    assert ("app", "env PORT") not in changes
    memory = changes[("app", "limits.memory")]
    assert (memory.before, memory.after) == ("256Mi", "512Mi")
    cpu = changes[("app", "requests.cpu")]
    assert (cpu.before, cpu.after) == ("100m", "unset")
    probe = changes[("app", "livenessProbe")]
    assert "timeout=5s" in probe.before
    assert "failures=3" in probe.before
    assert "timeout=1s" in probe.after
    assert "failures=1" in probe.after
    command = changes[("app", "command")]
    assert (command.before, command.after) == ("/app/server --port 8080", "/app/server --port 8080 --workers 4")
    assert (changes[("cache", "container")].before, changes[("cache", "container")].after) == ("absent", "added")
    removed = changes[("istio-proxy", "container")]
    assert (removed.before, removed.after) == ("present", "removed")
    account = changes[(None, "serviceAccount")]
    assert (account.before, account.after) == ("default", "web")
    assert image.line() == f"app: image {OLD_IMAGE} → {NEW_IMAGE}"


def test_diff_revisions_env_only_added_or_only_removed() -> None:
    base = {"containers": [container(env=[{"name": "PORT", "value": "8080"}])]}
    more = {"containers": [container(env=[{"name": "PORT", "value": "8080"}, {"name": "DEBUG", "value": "1"}])]}

    added = changes_of(base, more)
    removed = changes_of(more, base)

    assert [k for k in added if k[1].startswith("env")] == [("app", "env DEBUG")]
    assert added[("app", "env DEBUG")].before == "unset"
    assert [k for k in removed if k[1].startswith("env")] == [("app", "env DEBUG")]
    assert removed[("app", "env DEBUG")].after == "unset"


def test_diff_revisions_of_identical_templates_is_empty() -> None:
    assert changes_of(OLD_SPEC, OLD_SPEC) == {}


def test_diff_revisions_env_value_change_is_shown_without_the_values() -> None:
    old = {"containers": [container(env=[{"name": "API_TOKEN", "value": "tok-old-1111"}])]}
    new = {"containers": [container(env=[{"name": "API_TOKEN", "value": "tok-new-2222"}])]}

    change = changes_of(old, new)[("app", "env API_TOKEN")]

    assert change.before != change.after
    assert "tok-old-1111" not in change.line()
    assert "tok-new-2222" not in change.line()


def test_diff_revisions_env_moved_to_a_secret_names_the_secret() -> None:
    old = {"containers": [container(env=[{"name": "DB_PASSWORD", "value": "hunter2"}])]}
    secret_ref = {"secretKeyRef": {"name": "db-creds", "key": "password"}}
    new = {"containers": [container(env=[{"name": "DB_PASSWORD", "valueFrom": secret_ref}])]}

    change = changes_of(old, new)[("app", "env DB_PASSWORD")]

    assert "hunter2" not in change.line()
    assert "db-creds" in change.after


def test_diff_revisions_service_account_unset_means_default() -> None:
    old = {"containers": [container()]}
    new = {"serviceAccountName": "web", "containers": [container()]}

    account = changes_of(old, new)[(None, "serviceAccount")]

    assert (account.before, account.after) == ("default", "web")


def test_diff_revisions_on_model_revisions() -> None:
    spec_old = container_specs({"containers": [container(image=OLD_IMAGE)]})
    spec_new = container_specs({"containers": [container(image=NEW_IMAGE)]})
    before = Revision(6, "web-old", None, {"app": OLD_IMAGE}, spec_old)
    after = Revision(7, "web-new", None, {"app": NEW_IMAGE}, spec_new)

    assert diff_revisions(before, after) == (Change("app", "image", OLD_IMAGE, NEW_IMAGE),)


def test_rollout_from_controller_revisions() -> None:
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "shop", "uid": WEB_UID}}
    revisions = [
        controller_revision("db-7c8d9e0f1a", 3, "StatefulSet", "db", WEB_UID, "postgres:16.3"),
        controller_revision("db-6596ffb49b", 2, "StatefulSet", "db", WEB_UID, "postgres:16.2"),
        controller_revision("cache-5b6c7d8e9f", 4, "StatefulSet", "cache", OTHER_UID, "redis:7.2"),
    ]

    rollout = rollout_from_controller_revisions(sts, revisions)

    assert [(r.number, r.name) for r in rollout.revisions] == [(2, "db-6596ffb49b"), (3, "db-7c8d9e0f1a")]
    assert rollout.current is not None
    assert rollout.previous is not None
    assert rollout.current.images == {"db": "postgres:16.3"}
    assert rollout.previous.images == {"db": "postgres:16.2"}
    assert rollout.current.created == t("13:00:00")
    assert [(c.container, c.field, c.before, c.after) for c in rollout.changes] == [
        ("db", "image", "postgres:16.2", "postgres:16.3")
    ]
