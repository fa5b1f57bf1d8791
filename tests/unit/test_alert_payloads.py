"""Webhook bodies → Alerts: Alertmanager v4, CubeAPM extras, OpenTelemetry label styles, dedupe keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.alert_payloads import describe, normalize, parse
from runbooks.alerts import target_of

AM = {
    "version": "4",
    "groupKey": '{}:{alertname="PodCrashLoopBackOff"}',
    "truncatedAlerts": 0,
    "status": "firing",
    "receiver": "crashloop-bot",
    "groupLabels": {"alertname": "PodCrashLoopBackOff"},
    "commonLabels": {},
    "commonAnnotations": {},
    "externalURL": "http://alertmanager:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {
                "alertname": "PodCrashLoopBackOff",
                "namespace": "shop",
                "pod": "web-7c9d8f6b5-x2k4p",
                "container": "app",
                "cluster": "prod-eu-1",
            },
            "annotations": {"description": "Pod shop/web is in CrashLoopBackOff"},
            "startsAt": "2026-11-25T10:00:00.000Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus/graph",
            "fingerprint": "a1b2c3d4e5f60718",
            "someNewerField": {"tolerated": True},
        }
    ],
}


def test_alertmanager_v4() -> None:
    [alert] = normalize(parse(AM), "alertmanager")
    assert (alert.status, alert.name, alert.fingerprint) == ("firing", "PodCrashLoopBackOff", "a1b2c3d4e5f60718")
    assert alert.ends_at is None  # Alertmanager's zero time means "still firing"
    assert alert.starts_at is not None
    assert alert.starts_at.year == 2026
    t = alert.target
    assert (t.cluster, t.namespace, t.pod, t.container, t.name) == (
        "prod-eu-1",
        "shop",
        "web-7c9d8f6b5-x2k4p",
        "app",
        "web-7c9d8f6b5-x2k4p",
    )


def test_cubeapm_without_version_with_otel_labels_and_sample_log() -> None:
    body = {
        "status": "firing",
        "groupKeyHash": "9f86d081",
        "incidentTime": "2026-11-25T10:00:00Z",
        "notifyTime": "2026-11-25T10:00:05Z",
        "cubeImageURL": "https://cube/img.png",
        "cubeSampleLog": "panic: boom",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "Restarts",
                    "k8s.namespace.name": "payments",
                    "k8s.pod.name": "orders-6b7c9d-abcde",
                    "k8s.container.name": "app",
                    "k8s.deployment.name": "orders",
                    "k8s.cluster.name": "prod-eu-1",
                },
                "startsAt": "2026-11-25T10:00:00Z",
            }
        ],
    }
    [alert] = normalize(parse(body), "cubeapm")
    t = alert.target
    assert (t.namespace, t.pod, t.container, t.workload, t.workload_kind, t.cluster) == (
        "payments",
        "orders-6b7c9d-abcde",
        "app",
        "orders",
        "Deployment",
        "prod-eu-1",
    )
    assert t.name == "orders"
    assert alert.sample_log == "panic: boom"
    assert alert.group_key == "9f86d081"
    assert len(alert.fingerprint) == 16  # computed from the labels when the sender sends none


def test_underscore_otel_labels() -> None:
    t = target_of({"k8s_namespace_name": "shop", "k8s_pod_name": "db-0", "k8s_statefulset_name": "db"})
    assert (t.namespace, t.pod, t.workload, t.workload_kind) == ("shop", "db-0", "db", "StatefulSet")


def test_dedupe_key_same_for_redelivery_differs_by_status_and_start() -> None:
    [a] = normalize(parse(AM), "alertmanager")
    [b] = normalize(parse(AM), "alertmanager")
    assert a.dedupe_key == b.dedupe_key
    resolved = {**AM, "alerts": [{**AM["alerts"][0], "status": "resolved"}]}
    [c] = normalize(parse(resolved), "alertmanager")
    assert c.dedupe_key != a.dedupe_key
    later = {**AM, "alerts": [{**AM["alerts"][0], "startsAt": "2026-11-25T11:00:00Z"}]}
    [d] = normalize(parse(later), "alertmanager")
    assert d.dedupe_key != a.dedupe_key


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({**AM, "alerts": []}, "alerts: List should have at least 1 item"),
        ({**AM, "version": "3"}, "unsupported webhook version '3'"),
        ({**AM, "alerts": [{"labels": {"a": "b"}}]}, "alerts.0.status: Field required"),
        ({**AM, "alerts": [{"status": "burning", "labels": {"a": "b"}}]}, "alerts.0.status"),
        ({**AM, "alerts": [{"status": "firing", "labels": {}}]}, "an alert needs labels"),
        ({"alerts": "nope"}, "alerts: Input should be a valid list"),
    ],
)
def test_invalid_bodies_name_the_problem(body: object, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(body)
    assert problem in describe(err.value)
