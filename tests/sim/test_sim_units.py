"""The pure parts: strategic merge, selectors, quantities, durations, scenario parsing and conditions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.devtools.simcluster import ScenarioError, load_scenario_file, load_scenarios
from bot.devtools.simcluster.clock import go_duration, human_duration, parse_age
from bot.devtools.simcluster.conditions import EnvSet, PodView, StartupBudgetAtLeast, parse_condition, startup_budget
from bot.devtools.simcluster.errors import ApiError
from bot.devtools.simcluster.patching import merge_patch, strategic_merge
from bot.devtools.simcluster.quantity import parse_quantity
from bot.devtools.simcluster.selectors import (
    format_label_selector,
    labels_match,
    parse_field_selector,
    parse_label_selector,
)

POD = {
    "containers": [
        {
            "name": "app",
            "image": "a:1",
            "ports": [{"containerPort": 80}],
            "env": [{"name": "A", "value": "1"}],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        },
        {"name": "side", "image": "s:1"},
    ]
}


def test_strategic_merge_by_merge_keys() -> None:
    patch = {
        "containers": [
            {
                "name": "app",
                "ports": [{"containerPort": 81}],
                "env": [{"name": "B", "value": "2"}],
                "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": True}],
            }
        ]
    }
    app = strategic_merge(POD, patch)["containers"][0]
    assert [p["containerPort"] for p in app["ports"]] == [80, 81]
    assert [e["name"] for e in app["env"]] == ["A", "B"]
    assert app["volumeMounts"] == [{"name": "data", "mountPath": "/data", "readOnly": True}]
    assert app["image"] == "a:1"


def test_strategic_merge_directives() -> None:
    deleted = strategic_merge(POD, {"containers": [{"name": "side", "$patch": "delete"}]})
    assert [c["name"] for c in deleted["containers"]] == ["app"]
    replaced = strategic_merge(POD, {"containers": [{"name": "only", "image": "o:1"}, {"$patch": "replace"}]})
    assert replaced["containers"] == [{"name": "only", "image": "o:1"}]
    ordered = strategic_merge(
        POD,
        {
            "$setElementOrder/containers": [{"name": "side"}, {"name": "app"}],
            "containers": [{"name": "app", "image": "a:2"}],
        },
    )
    assert [(c["name"], c["image"]) for c in ordered["containers"]] == [("side", "s:1"), ("app", "a:2")]
    retained = strategic_merge(
        {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}, {"type": "Recreate", "$retainKeys": ["type"]}
    )
    assert retained == {"type": "Recreate"}
    assert strategic_merge({"a": {"b": 1}}, {"a": {"$patch": "replace", "c": 2}}) == {"a": {"c": 2}}
    assert strategic_merge({"a": 1, "b": 2}, {"a": None}) == {"b": 2}


def test_lists_without_merge_key_are_replaced() -> None:
    assert strategic_merge({"args": ["a", "b"]}, {"args": ["c"]}) == {"args": ["c"]}
    assert strategic_merge({"metadata": {"finalizers": ["x"]}}, {"metadata": {"finalizers": ["y"]}}) == {
        "metadata": {"finalizers": ["x", "y"]}
    }


def test_merge_patch_is_rfc7386() -> None:
    assert merge_patch({"a": {"b": 1, "c": 2}, "l": [1]}, {"a": {"b": None}, "l": [2]}) == {"a": {"c": 2}, "l": [2]}


def test_label_selectors() -> None:
    labels = {"app": "web", "tier": "front"}
    assert labels_match(parse_label_selector("app=web,tier in (front,back)"), labels)
    assert not labels_match(parse_label_selector("app!=web"), labels)
    assert labels_match(parse_label_selector("!gone,app"), labels)
    assert labels_match(parse_label_selector("tier notin (back)"), labels)
    assert labels_match(parse_label_selector(""), labels)
    with pytest.raises(ApiError) as caught:
        parse_label_selector("app in in")
    assert caught.value.code == 400
    assert format_label_selector({"matchLabels": {"b": "2", "a": "1"}}) == "a=1,b=2"


def test_field_selectors_are_checked_per_resource() -> None:
    assert [r.field for r in parse_field_selector("involvedObject.uid=x,type!=Normal", "events")] == [
        "involvedObject.uid",
        "type",
    ]
    with pytest.raises(ApiError) as caught:
        parse_field_selector("involvedObject.uid=x", "pods")
    assert caught.value.message == "field label not supported: involvedObject.uid"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("256Mi", 268435456),
        ("0.5", Decimal("0.5")),
        ("250m", Decimal("0.25")),
        ("1Gi", 2**30),
        ("1e3", 1000),
        ("2k", 2000),
    ],
)
def test_quantities(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


def test_bad_quantity() -> None:
    with pytest.raises(ValueError, match="quantities must match"):
        parse_quantity("12 MiB")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (59, "59s"),
        (125, "2m5s"),
        (240, "4m"),
        (7200, "120m"),
        (4 * 3600 + 60, "4h1m"),
        (30 * 3600, "30h"),
        (6 * 86400, "6d"),
        (9 * 86400, "9d"),
    ],
)
def test_human_durations_match_kubectl(seconds: int, text: str) -> None:
    assert human_duration(seconds) == text


def test_go_durations_and_ages() -> None:
    assert [go_duration(s) for s in (10, 80, 300)] == ["10s", "1m20s", "5m0s"]
    assert parse_age("1h30m") == 5400
    assert parse_age("6d") == 6 * 86400
    assert parse_age("45s ago") == 45
    with pytest.raises(ValueError, match="not a duration"):
        parse_age("soon")


def test_startup_budget() -> None:
    assert (
        startup_budget({"livenessProbe": {"initialDelaySeconds": 5, "periodSeconds": 10, "failureThreshold": 3}}) == 35
    )
    assert (
        startup_budget(
            {"startupProbe": {"periodSeconds": 5, "failureThreshold": 30}, "livenessProbe": {"initialDelaySeconds": 1}}
        )
        == 150
    )
    assert startup_budget({}) is None
    assert StartupBudgetAtLeast(45).holds(PodView("ns", {}, {}), facts=None)  # type: ignore[arg-type]


class Facts:
    def data_keys(self, plural: str, namespace: str, name: str) -> set[str] | None:
        return {"url", "URL"} if (plural, name) == ("secrets", "db") else None

    def dependency_up(self, target: str) -> bool:
        return False


def test_env_set_resolves_references() -> None:
    def holds(container: dict[str, object]) -> bool:
        return EnvSet("DATABASE_URL").holds(PodView("shop", {}, container), Facts())

    assert holds({"env": [{"name": "DATABASE_URL", "value": "x"}]})
    assert not holds({"env": [{"name": "DATABASE_URL", "value": ""}]})
    assert holds({"env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}]})
    assert not holds({"env": [{"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "x"}}}]})
    assert holds({"envFrom": [{"prefix": "DATABASE_", "secretRef": {"name": "db"}}]})
    assert not holds({"envFrom": [{"configMapRef": {"name": "db"}}]})


def test_unknown_conditions_and_scenarios_are_reported() -> None:
    with pytest.raises(ValueError, match=r"unknown heals_when condition 'moon_is_full'"):
        parse_condition({"moon_is_full": True})
    with pytest.raises(ScenarioError, match="unknown scenario"):
        load_scenarios(["nope"])


def test_a_scenario_file_with_a_bad_dependency_state(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text(
        "namespace: x\nworkload: {manifest: {kind: Deployment, metadata: {name: x}}}\n"
        "dependencies: {db:5432: sideways}\n"
    )
    with pytest.raises(ScenarioError, match=r"broken\.yaml"):
        load_scenario_file(path)
