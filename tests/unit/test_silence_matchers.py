"""The matchers of a workload's alerts select its pods and no other workload's; durations parse as people type them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from bot.alertmanager.matchers import (
    Matcher,
    UnsupportedKind,
    foreign_pods,
    matches,
    pod_pattern,
    same,
    uncovered_pods,
    workload_matchers,
)
from bot.cli.main import cli
from bot.core.config import Config, Environment, Silences
from bot.devtools.simcluster.ids import Ids, fnv32a, safe_encode
from bot.remedies import validation
from runbooks.silence import format_duration, parse_duration


def labels(pod: str, namespace: str = "shop", cluster: str = "prod-eu-1") -> dict[str, str]:
    return {"alertname": "PodCrashLoopBackOff", "namespace": namespace, "pod": pod, "cluster": cluster}


@pytest.mark.parametrize(
    ("kind", "name", "mine", "not_mine"),
    [
        (
            "Deployment",
            "web",
            ["web-7c9d8f6b5-x2k4p", "web-5694797858-cwszx", "web-b4-zz9q2"],
            [
                "web-db-7c9d8f6b5-x2k4p",
                "web-0",
                "web-x2k4p",
                "webb-7c9d8f6b5-x2k4p",
                "web-7c9d8f6b5-x2k4pa",
                "web",
                "web-29427552-x2k4p",  # a CronJob `web`'s Job pod: `web-<minutes since the epoch>-<5>`
                "web-7c9d8f6b5c9d-x2k4p",  # 12 hash characters: a uint32 has at most 10 digits
                "web-7c9dxf6b5-x2k4p",  # `x` is in rand.String's alphabet, never in a hash
            ],
        ),
        ("DaemonSet", "agent", ["agent-x2k4p"], ["agent-7c9d8f6b5-x2k4p", "agent-1", "agent-aeiou", "agents-x2k4p"]),
        ("StatefulSet", "db", ["db-0", "db-12"], ["db-01", "db-x2k4p", "db-1-0", "dbx-0", "db-"]),
        ("Deployment", "api.v2", ["api.v2-7c9d8f6b5-x2k4p"], ["apixv2-7c9d8f6b5-x2k4p"]),
    ],
)
def test_the_pod_pattern_matches_the_workloads_generated_names_only(
    kind: str, name: str, mine: list[str], not_mine: list[str]
) -> None:
    matchers = workload_matchers(kind=kind, namespace="shop", workload=name, cluster="prod-eu-1")
    assert all(matches(matchers, labels(p)) for p in mine), [p for p in mine if not matches(matchers, labels(p))]
    assert not any(matches(matchers, labels(p)) for p in not_mine), [
        p for p in not_mine if matches(matchers, labels(p))
    ]
    assert not matches(matchers, labels(mine[0], namespace="payments"))
    assert not matches(matchers, labels(mine[0], cluster="prod-us-1"))
    assert not matches(matchers, {"namespace": "shop", "pod": mine[0]})  # no cluster label: not this environment's


def test_a_bare_pod_is_an_equality_matcher_and_no_cluster_label_means_no_cluster_matcher() -> None:
    assert workload_matchers(kind="Pod", namespace="shop", workload="debug-x", cluster=None) == (
        Matcher("namespace", "shop"),
        Matcher("pod", "debug-x"),
    )
    with pytest.raises(UnsupportedKind):
        pod_pattern("Job", "nightly")


def test_text_form_quotes_and_api_form_is_positive() -> None:
    m = Matcher("pod", 'we"ird\\', is_regex=True)
    assert m.text() == 'pod=~"we\\"ird\\\\"'
    assert m.api() == {"name": "pod", "value": 'we"ird\\', "isRegex": True, "isEqual": True}
    wanted = workload_matchers(kind="Deployment", namespace="shop", workload="web", cluster="c")
    assert same([w.api() for w in reversed(wanted)], wanted)
    assert not same([w.api() for w in wanted[:2]], wanted)
    assert not same([{**w.api(), "isEqual": False} for w in wanted], wanted)


def pod(name: str, owner_kind: str | None, owner: str = "") -> dict[str, Any]:
    refs = [{"kind": owner_kind, "name": owner, "controller": True}] if owner_kind else []
    return {"metadata": {"name": name, "ownerReferences": refs}}


def test_foreign_pods_are_the_ones_the_pattern_would_over_silence() -> None:
    pods = [
        pod("web-7c9d8f6b5-x2k4p", "ReplicaSet", "web-7c9d8f6b5"),
        pod("web-db-x2k4p", "DaemonSet", "web-db"),  # a DaemonSet `web-db`: its pod names fit Deployment web's
        pod("web-bb-b2c4d", None),  # a bare pod that happens to fit
        pod("web-db-0", "StatefulSet", "web-db"),  # does not fit the pattern at all
    ]
    pattern = pod_pattern("Deployment", "web")
    assert foreign_pods(pods, "Deployment", "web", pattern) == ["web-bb-b2c4d", "web-db-x2k4p"]
    assert foreign_pods(pods[:1], "Deployment", "web", pattern) == []
    assert (
        foreign_pods(
            [pod("agent-x2k4p", "DaemonSet", "agent")], "DaemonSet", "agent", pod_pattern("DaemonSet", "agent")
        )
        == []
    )


def test_long_names_follow_kubernetes_truncation_of_generated_names() -> None:
    """Every name length up to a DNS label's and beyond, every hash length: the names the API server's
    SimpleNameGenerator makes (base cut to 58, then 5 random characters) match; near misses do not."""
    ids = Ids(seed=7)
    for length in range(1, 80):
        name = ("checkout-" * 10)[:length].rstrip("-") or "c"
        deployment, daemonset = pod_pattern("Deployment", name), pod_pattern("DaemonSet", name)
        for digits in ("7", "42", "1234567", "429496729", "4294967295"):  # uint32s of 1 to 10 digits
            replicaset = f"{name}-{safe_encode(digits)}"
            generated = ids.generated_name(f"{replicaset}-")
            assert len(generated) <= 63
            assert re.fullmatch(deployment, generated), (name, generated, deployment)
            assert not re.fullmatch(deployment, generated + "x")
        hashed = ids.generated_name(f"{name}-{safe_encode(str(fnv32a(name.encode())))}-")
        assert re.fullmatch(deployment, hashed)
        assert re.fullmatch(daemonset, ids.generated_name(f"{name}-")), (name, daemonset)
        if length <= 46:  # no cut: the pattern is the plain one, nothing longer accepted
            assert "(?:" not in deployment


def test_a_pattern_missing_the_workloads_own_pods_is_seen() -> None:
    pods = [
        pod("web-7c9d8f6b5-x2k4p", "ReplicaSet", "web-7c9d8f6b5"),
        pod("web-7c9d8f6b5-abcde", "ReplicaSet", "web-7c9d8f6b5"),  # vowels: not a name Kubernetes makes
        pod("web-db-x2k4p", "DaemonSet", "web-db"),
    ]
    pattern = pod_pattern("Deployment", "web")
    assert uncovered_pods(pods, "Deployment", "web", pattern) == (2, ["web-7c9d8f6b5-abcde"])
    assert uncovered_pods(pods[:1], "Deployment", "web", pattern) == (1, [])
    assert uncovered_pods(pods[2:], "Deployment", "web", pattern) == (0, [])


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("15m", 900), ("2h", 7200), ("1d", 86400), ("1d12h", 129600), (" 90M ", 5400), ("1w", 604800)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "2 hours", "h", "-1h", "1.5h", "2h;", "1y", "٢h", "１h"])
def test_not_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_duration_bounds_and_words() -> None:
    limits = validation.Limits("4Gi", silence_seconds=(15 * 60, 7 * 86400))
    validation.duration({"duration": "15m"}, limits)
    validation.duration({"duration": "7d"}, limits)
    for bad in ("14m", "7d1m", "soon"):
        with pytest.raises(validation.ParamRefused) as refused:
            validation.duration({"duration": bad}, limits)
        assert refused.value.field == "duration"
    with pytest.raises(validation.ParamRefused, match="derived by the bot"):
        validation.duration({"duration": "2h", "matchers": [{"name": "alertname", "value": ".*"}]}, limits)
    with pytest.raises(validation.ParamRefused, match="silence id"):
        validation.silence_id({"silence_id": "../../api/v2/status"}, limits)
    assert format_duration(129600) == "1d 12h"


def test_config_alertmanager_url_and_silence_bounds() -> None:
    env = {"namespaces": ["shop"], "alertmanager_url": "http://alertmanager.monitoring:9093"}
    assert Config.model_validate({"environments": {"prod": env}}).silences == Silences()
    for url in ("alertmanager:9093", "http://user:pass@alertmanager:9093", "ftp://am"):
        with pytest.raises(ValueError, match="not an http"):
            Environment.model_validate({**env, "alertmanager_url": url})
    with pytest.raises(ValueError, match="default_duration"):
        Silences(default_duration="10m")
    with pytest.raises(ValueError, match="longer than max_hours"):
        Silences(min_minutes=120, max_hours=1, default_duration="1h")
    signature = {"id": "x", "pattern": "boom", "branch": "app_env", "meaning": "boom", "remedy": "silence"}
    with pytest.raises(ValueError, match="not a runbook remedy"):
        Config.model_validate({"environments": {"prod": env}, "triage": {"signatures": [signature]}})
    assert re.fullmatch(pod_pattern("Deployment", "web"), "web-7c9d8f6b5-x2k4p")


def test_environments_sharing_an_alertmanager_must_each_name_their_cluster(tmp_path: Path) -> None:
    am = "http://alertmanager.monitoring:9093"
    prod = {"namespaces": ["shop"], "alertmanager_url": am, "cluster_label": "prod-eu-1"}
    staging = {"namespaces": ["shop"], "alertmanager_url": am + "/"}
    with pytest.raises(ValueError, match="share the Alertmanager") as err:
        Config.model_validate({"environments": {"prod": prod, "staging": staging}})
    assert "environments prod, staging share the Alertmanager http://alertmanager.monitoring:9093" in str(err.value)
    assert "staging has no cluster_label" in str(err.value)
    Config.model_validate({"environments": {"prod": prod, "staging": {**staging, "cluster_label": "stg-1"}}})
    Config.model_validate({"environments": {"staging": staging}})  # alone on its Alertmanager: no cluster needed
    Config.model_validate({"environments": {"prod": prod, "staging": {**staging, "alertmanager_url": None}}})

    config_file = tmp_path / "crashloop.yaml"
    config_file.write_text(yaml.safe_dump({"environments": {"prod": prod, "staging": staging}}))
    checked = CliRunner().invoke(cli, ["--config", str(config_file), "config", "check", "--offline"])
    assert checked.exit_code != 0
    assert "share the Alertmanager" in checked.output
    assert "staging has no cluster_label" in checked.output
