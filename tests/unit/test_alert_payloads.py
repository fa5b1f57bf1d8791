"""Webhook bodies → Alerts: Alertmanager v4, CubeAPM extras, OpenTelemetry label styles, dedupe keys."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from handlers.alert_payloads import describe, normalize, parse, read
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
        ({"alerts": "nope"}, "alerts: Input should be a valid list"),
    ],
)
def test_invalid_envelopes_name_the_problem(body: object, problem: str) -> None:
    with pytest.raises(ValidationError) as err:
        parse(body)
    assert problem in describe(err.value)


def _alert(**fields: object) -> dict[str, object]:
    return {**AM["alerts"][0], **fields}  # type: ignore[index]


@pytest.mark.parametrize(
    ("alert", "problem"),
    [
        ({"labels": {"a": "b"}}, "alerts.1.status: Field required"),
        ({"status": "burning", "labels": {"a": "b"}}, "alerts.1.status"),
        ({"status": "firing", "labels": {}}, "an alert needs labels"),
        (_alert(startsAt="2026-11-25T10:00:00"), "alerts.1.startsAt: Input should have timezone info"),
        (_alert(endsAt="0001-01-01T00:00:00+01:00"), "outside the range of representable times"),
        (_alert(fingerprint="ab\x00cd"), "fingerprint contains a NUL character"),
        (_alert(fingerprint="\ud800"), "fingerprint contains a lone surrogate"),
        (_alert(labels={"pod": "web-\ud800"}), "labels.pod contains a lone surrogate"),
        (_alert(generatorURL="http://x/\udfff"), "generatorURL contains a lone surrogate"),
    ],
)
def test_a_bad_alert_is_rejected_by_index_and_the_good_ones_kept(alert: dict[str, object], problem: str) -> None:
    delivery = read({**AM, "alerts": [AM["alerts"][0], alert]}, "alertmanager")  # type: ignore[index]
    assert [a.fingerprint for a in delivery.alerts] == ["a1b2c3d4e5f60718"]
    [rejected] = delivery.rejected
    assert rejected.index == 1
    assert problem in rejected.problem


def test_free_text_keeps_its_content_with_unstorable_characters_replaced() -> None:
    body = {**AM, "alerts": [_alert(annotations={"description": "boom\x00 \ud800!"}, cubeSampleLog="a\x00b")]}
    [alert] = read(body, "cubeapm").alerts
    assert alert.annotations["description"] == "boom\ufffd \ufffd!"
    assert alert.sample_log == "a\ufffdb"
