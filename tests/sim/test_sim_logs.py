"""Pod logs: previous/current, tailLines, limitBytes, timestamps, and the kubelet's own 400 errors."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException
from simview import SimView


def error_message(caught: pytest.ExceptionInfo[ApiException]) -> tuple[int, str]:
    return caught.value.status, json.loads(caught.value.body)["message"]


def test_previous_logs_of_a_crash_looping_go_app(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("shop", "web-app")["metadata"]["name"]
    text = core.read_namespaced_pod_log(pod, "shop", container="app", previous=True)
    lines = text.splitlines()
    assert "panic: runtime error: invalid memory address or nil pointer dereference" in lines
    assert "goroutine 1 [running]:" in lines
    assert '"msg":"starting web-app","image":"registry.example.com/shop/web-app:2.4.0"' in lines[0]
    assert text.endswith("\n")


def test_current_logs_of_a_crash_looping_container_are_its_last_run(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("shop", "checkout")["metadata"]["name"]
    current = core.read_namespaced_pod_log(pod, "shop")
    previous = core.read_namespaced_pod_log(pod, "shop", previous=True)
    assert current == previous
    assert current.splitlines()[-1] == "KeyError: 'DATABASE_URL'"
    assert "FATAL: required environment variable DATABASE_URL is not set" in current


def test_tail_lines_and_limit_bytes(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("payments", "orders")["metadata"]["name"]
    tail = core.read_namespaced_pod_log(pod, "payments", container="app", previous=True, tail_lines=2)
    assert tail.splitlines() == [
        'psycopg2.OperationalError: connection to server at "orders-db" (10.96.0.12), port 5432 failed: '
        "Connection refused",
        "\tIs the server running on that host and accepting TCP/IP connections?",
    ]
    limited = core.read_namespaced_pod_log(pod, "payments", container="app", previous=True, limit_bytes=32)
    assert len(limited.encode()) == 32
    assert limited.endswith(" INFO [or")


def test_timestamps_prefix_each_line(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("shop", "ledger-api")["metadata"]["name"]
    text = core.read_namespaced_pod_log(pod, "shop", previous=True, timestamps=True, tail_lines=3)
    assert all(re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z ", line) for line in text.splitlines())
    assert "Loading batch 7732 into memory" in text


def test_boolean_query_parameters_are_parsed_loosely(raw: Callable[..., Any], view: SimView) -> None:
    pod = view.failing_pod("shop", "inventory-sync")["metadata"]["name"]
    response = raw(f"/api/v1/namespaces/shop/pods/{pod}/log?previous=True&tailLines=1")
    assert response.status == 200
    assert response.content_type == "text/plain"
    assert response.text.startswith("E")
    assert "Failed to sync informer caches, exiting" in response.text


def test_previous_logs_of_a_container_that_never_terminated(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.pods("shop", "catalog")[0]["metadata"]["name"]
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(pod, "shop", previous=True)
    assert error_message(caught) == (400, f'previous terminated container "app" in pod "{pod}" not found')


def test_healthy_container_logs(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.pods("shop", "catalog")[0]["metadata"]["name"]
    text = core.read_namespaced_pod_log(pod, "shop")
    assert 'msg="catalog starting" image=registry.example.com/shop/catalog:1.22.0' in text
    assert text.splitlines()[-1].endswith('msg="listening" addr=:8080')


def test_multi_container_pod_needs_a_container_name(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("payments", "orders")["metadata"]["name"]
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(pod, "payments")
    assert error_message(caught) == (
        400,
        f"a container name must be specified for pod {pod}, choose one of: [app log-shipper]",
    )
    sidecar = core.read_namespaced_pod_log(pod, "payments", container="log-shipper")
    assert sidecar.startswith("Fluent Bit v3.1.9")


def test_init_container_choice_is_named_too(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("fraud-scorer-0", "payments", container="nope")
    assert error_message(caught) == (400, "container nope is not valid for pod fraud-scorer-0")


def test_container_waiting_on_its_config(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.pods("payments", "payments-gateway")[0]["metadata"]["name"]
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log(pod, "payments")
    assert error_message(caught) == (
        400,
        f'container "gateway" in pod "{pod}" is waiting to start: CreateContainerConfigError',
    )
    with pytest.raises(ApiException) as previous:
        core.read_namespaced_pod_log(pod, "payments", previous=True)
    assert error_message(previous)[1] == f'previous terminated container "gateway" in pod "{pod}" not found'


def test_main_container_behind_a_failing_init_container(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("fraud-scorer-1", "payments", container="scorer")
    assert error_message(caught) == (
        400,
        'container "scorer" in pod "fraud-scorer-1" is waiting to start: PodInitializing',
    )
    init_logs = core.read_namespaced_pod_log("fraud-scorer-1", "payments", container="fetch-model", previous=True)
    assert 'secrets \\"model-registry-token\\" is forbidden' in init_logs


def test_start_error_leaves_empty_logs(core: client.CoreV1Api, view: SimView) -> None:
    pod = view.failing_pod("shop", "report-worker")["metadata"]["name"]
    assert core.read_namespaced_pod_log(pod, "shop", previous=True) == ""


def test_logs_of_a_missing_pod(core: client.CoreV1Api) -> None:
    with pytest.raises(ApiException) as caught:
        core.read_namespaced_pod_log("nope", "shop")
    assert error_message(caught) == (404, 'pods "nope" not found')


def test_invalid_tail_lines(raw: Callable[..., Any], view: SimView) -> None:
    pod = view.pods("shop", "catalog")[0]["metadata"]["name"]
    response = raw(f"/api/v1/namespaces/shop/pods/{pod}/log?tailLines=-1")
    assert response.status == 422
    assert response.json()["reason"] == "Invalid"
