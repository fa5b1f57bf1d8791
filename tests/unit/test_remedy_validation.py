"""What a person may type into a remedy: each limit refused with the limit named, sane values let through."""

from __future__ import annotations

from typing import Any

import pytest

from bot.remedies import validation as v

LIMITS = v.Limits("4Gi", "256Mi", frozenset({"default", "inventory-sync"}))


def refused(check: Any, params: dict[str, Any], limits: v.Limits = LIMITS) -> v.ParamRefused:
    with pytest.raises(v.ParamRefused) as caught:
        check(params, limits)
    return caught.value


def test_memory_above_the_environments_maximum_names_the_limit() -> None:
    err = refused(v.memory, {"to": "9Gi"})
    assert (err.field, str(err)) == ("to", "9Gi: 4Gi is the most this environment allows (limits.max_memory)")
    assert refused(v.memory, {"to": "1Gi", "request_to": "5Gi"}).field == "request_to"


def test_memory_below_the_current_limit_needs_saying_so() -> None:
    assert "below the container's current 256Mi" in str(refused(v.memory, {"to": "128Mi"}))
    v.memory({"to": "128Mi", "shrink": "yes"}, LIMITS)  # said so
    v.memory({"to": "4Gi"}, LIMITS)  # the maximum itself is allowed
    assert refused(v.memory, {"to": "lots"}).field == "to"


@pytest.mark.parametrize(
    ("settings", "fragment"),
    [
        ({"liveness": {"periodSeconds": 1000}}, "periodSeconds=1000: allowed 1–300"),
        ({"readiness": {"timeoutSeconds": 0}}, "timeoutSeconds=0: allowed 1–120"),
        ({"startup": {"failureThreshold": 360, "periodSeconds": 60}}, "21600s; 3600s at most"),
        ({"liveness": {"initialDelaySeconds": True}}, "initialDelaySeconds=True"),
        ({"sideways": {"periodSeconds": 10}}, "unknown probe 'sideways'"),
        ({}, "probes must map"),
    ],
)
def test_probe_values_stay_in_sane_bounds(settings: dict[str, Any], fragment: str) -> None:
    assert fragment in str(refused(v.probes, {"probes": settings}))


def test_sane_probe_values_pass() -> None:
    v.probes({"probes": {"startup": {"failureThreshold": 30, "periodSeconds": 10}}}, LIMITS)


@pytest.mark.parametrize("name", ["1BAD", "BAD-NAME", "has space", "a.b", "", "x" * 257])
def test_env_var_names_follow_c_identifier_rules(name: str) -> None:
    assert refused(v.env_name, {"name": name}).field == "name"


@pytest.mark.parametrize("name", ["DATABASE_URL", "_private", "a1", "X" * 256])
def test_valid_env_var_names_pass(name: str) -> None:
    v.env_name({"name": name}, LIMITS)


@pytest.mark.parametrize(
    "image",
    [
        "busybox",
        "busybox:1.36",
        "library/busybox:1.36",
        "registry.example.com/shop/report-worker:1.7.2",
        "registry.example.com:5000/shop/app@sha256:" + "a" * 64,
        "ghcr.io/org/app:v1.2.3-rc.1@sha256:" + "0123456789abcdef" * 4,
        "localhost:5000/a__b/c-d.e:tag_1",
        "[::1]:5000/app:1",
    ],
)
def test_image_references_in_the_grammar_pass(image: str) -> None:
    v.image({"image": image}, LIMITS)


@pytest.mark.parametrize(
    ("image", "fragment"),
    [
        ("registry.example.com/Shop/App:1.0", "is not an image reference"),
        ("app:tag with space", "is not an image reference"),
        ("app:-tag", "is not an image reference"),
        ("app@sha256:short", "is not an image reference"),
        ("app:" + "t" * 129, "is not an image reference"),
        ("a/" * 2100 + "b", "4096 at most"),
        ("r.example.com/" + "a" * 256, "255 at most"),
        ("", "an image reference is required"),
    ],
)
def test_image_references_outside_the_grammar_are_refused(image: str, fragment: str) -> None:
    err = refused(v.image, {"image": image})
    assert err.field == "image"
    assert fragment in str(err)


def test_service_accounts_must_exist_when_known() -> None:
    assert "does not exist in the namespace (existing: default, inventory-sync)" in str(
        refused(v.service_account, {"service_account": "ghost"})
    )
    v.service_account({"service_account": "inventory-sync"}, LIMITS)
    v.service_account({"service_account": "anything"}, v.Limits("4Gi"))  # not looked up: the name's form only
    assert refused(v.service_account, {"service_account": "Not_Valid"}).field == "service_account"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"host": "bad_host!"}, "host"),
        ({"host": ""}, "host"),
        ({"host": "orders-db", "port": 70000}, "port"),
        ({"host": "orders-db", "port": "abc"}, "port"),
        ({"host": "orders-db", "port": 0}, "port"),
    ],
)
def test_netcheck_host_and_port(params: dict[str, Any], field: str) -> None:
    assert refused(v.host_port, params).field == field


def test_netcheck_good_targets_pass() -> None:
    v.host_port({"host": "orders-db.payments.svc.cluster.local", "port": "5432"}, LIMITS)
    v.host_port({"host": "10.0.0.7"}, LIMITS)
