"""Issue 9's rules beyond single signatures: operator signatures, honest fallback, volumes, bare pods, exit 137,
RBAC proposals, and one line per distinct event or read failure."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_config
from bot.kube.parse import env_endpoint, mounts
from runbooks.classify import classify
from runbooks.matching import group_events, read_failure_lines
from runbooks.model import EnvEndpoint, Mount, Policy, ReadFailure
from tests.unit.builders import crashing, event, evidence, quotes, remedy, remedy_ids, spec, term

LEDGER_LINE = "FATAL LEDGER-LOCK-17 cannot lock ledger-lock.payments.svc:7420 (lease held)"


def _config(tmp_path: Path, signatures: str) -> Path:
    path = tmp_path / "crashloop.yaml"
    path.write_text(
        "environments:\n  prod: {context: sim, namespaces: [shop]}\ntriage:\n  signatures:\n" + signatures,
        encoding="utf-8",
    )
    return path


LEDGER_SIGNATURE = """\
    - id: ledger-lock
      pattern: 'LEDGER-LOCK-(?P<code>\\d+) cannot lock (?P<host>[\\w.-]+):(?P<port>\\d+)'
      branch: networking_deps
      meaning: "the ledger lock service {host} refuses the lease (code {code})"
      remedy: netcheck
      params: {host: "{host}", port: "{port}"}
"""


def test_an_operator_signature_is_matched_and_shown_like_a_built_in_one(tmp_path: Path) -> None:
    policy = load_config(_config(tmp_path, LEDGER_SIGNATURE)).policy()

    finding = classify(evidence(log_lines=("booting", LEDGER_LINE)), policy)

    assert finding.branch == "networking_deps"
    assert LEDGER_LINE in quotes(finding)
    assert "ledger-lock from crashloop.yaml" in finding.reasons[0].text
    assert remedy(finding, "netcheck").params == {"host": "ledger-lock.payments.svc", "port": 7420}
    # without the operator's signature the same line is only a generic fatal error
    assert classify(evidence(log_lines=("booting", LEDGER_LINE))).branch != "networking_deps"


@pytest.mark.parametrize(
    ("signature", "message"),
    [
        pytest.param(LEDGER_SIGNATURE.replace("(?P<port>", "(?P<port"), "not a valid regex", id="bad-regex"),
        pytest.param(LEDGER_SIGNATURE.replace("(code {code})", "({missing})"), "{missing}", id="unknown-group"),
        pytest.param(LEDGER_SIGNATURE.replace("      params:", "      other:"), "unknown key", id="typo"),
        pytest.param(
            LEDGER_SIGNATURE.replace('params: {host: "{host}", port: "{port}"}', "params: {}"),
            "needs params: host",
            id="netcheck-without-host",
        ),
        pytest.param(LEDGER_SIGNATURE.replace("networking_deps", "dns"), "branch", id="unknown-branch"),
        pytest.param(LEDGER_SIGNATURE + LEDGER_SIGNATURE, "share an id", id="duplicate-id"),
    ],
)
def test_config_check_rejects_a_broken_operator_signature(tmp_path: Path, signature: str, message: str) -> None:
    with pytest.raises(ConfigError, match=r"triage\.signatures") as err:
        load_config(_config(tmp_path, signature))
    assert message in str(err.value)


def test_when_nothing_matches_it_says_so_and_quotes_the_lines_most_likely_to_matter() -> None:
    lines = (
        "starting worker pool size=4",
        "warn: cache warmup slow",
        'level=error msg="reconcile loop gave up after 3 attempts"',
        "worker pool drained",
        "bye",
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.remedies == ()
    assert finding.confidence <= 0.35
    assert "not recognised" in finding.summary
    assert 'level=error msg="reconcile loop gave up after 3 attempts"' in quotes(finding)
    assert "bye" in quotes(finding)
    assert "starting worker pool size=4" not in quotes(finding)


def test_exit_137_without_oomkilled_is_ambiguous_and_proposes_no_memory_bump() -> None:
    finding = classify(evidence(status=crashing(last=term("Error", 137))))

    assert "bump_memory" not in remedy_ids(finding)
    assert finding.confidence <= 0.4
    assert "ambiguous" in finding.summary
    assert any("CPU limit of 500m" in r.text for r in finding.reasons)
    assert finding.confidence < classify(evidence(status=crashing(last=term("OOMKilled", 137)))).confidence


def test_a_file_error_is_tied_to_its_volume_and_claim_size() -> None:
    ev = evidence(log_lines=('could not write to file "pg_wal/xlogtemp.20": No space left on device',))
    data = Mount("app", "data", "/var/lib/postgresql/data", source="volumeClaimTemplate", claim="data", size="8Gi")
    ev = dataclasses.replace(ev, workload=dataclasses.replace(ev.workload, mounts=(data,)))

    finding = classify(ev)

    assert finding.branch == "rbac_mounts"
    assert any("volume data (claim data, 8Gi requested)" in r.text for r in finding.reasons)


def test_the_mount_under_a_denied_path_is_named() -> None:
    ev = evidence(log_lines=("mkdir: cannot create directory '/var/lib/zookeeper/logs': Permission denied",))
    m = Mount("app", "datadir", "/var/lib/zookeeper", source="persistentVolumeClaim zk-data", claim="zk-data")
    ev = dataclasses.replace(ev, workload=dataclasses.replace(ev.workload, mounts=(m,)))

    finding = classify(ev)

    assert any("/var/lib/zookeeper/logs is on volume datadir (claim zk-data)" in r.text for r in finding.reasons)


def test_a_bare_pod_gets_only_what_a_pod_allows() -> None:
    ev = evidence(status=crashing(last=term("OOMKilled", 137)))
    bare = dataclasses.replace(ev, workload=dataclasses.replace(ev.workload, kind="Pod"))

    finding = classify(bare)

    assert finding.branch == "resources"
    assert "bump_memory" in remedy_ids(classify(ev))
    assert remedy_ids(finding) == []
    assert "bare pod" in finding.next_step
    assert "Bump memory" in finding.next_step


def test_a_bare_pod_built_for_another_architecture_may_change_its_image() -> None:
    ev = evidence(log_lines=("exec /usr/bin/dotnet: exec format error",))
    bare = dataclasses.replace(ev, workload=dataclasses.replace(ev.workload, kind="Pod"))

    finding = classify(bare)

    assert finding.branch == "image_config"
    assert remedy_ids(finding) == ["set_image"]
    assert "on the pod" in finding.remedies[0].title


def test_a_missing_module_is_an_image_problem_never_networking() -> None:
    lines = ("Traceback (most recent call last):", "    import cv2", "ModuleNotFoundError: No module named 'cv2'")
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "image_config"
    assert "networking_deps" not in finding.alternatives
    assert "ModuleNotFoundError: No module named 'cv2'" in quotes(finding)


def test_a_url_user_read_as_the_host_is_a_setting_error_naming_the_variable() -> None:
    url = env_endpoint({"name": "REDIS_CONNECTION_STRING", "value": "redis://default:p#ss@redis-primary:6379/0"})
    assert url == EnvEndpoint("REDIS_CONNECTION_STRING", "redis-primary", 6379, "redis", "default")
    ev = evidence(
        log_lines=("Error: getaddrinfo ENOTFOUND default",), specs=[dataclasses.replace(spec(), endpoints=(url,))]
    )

    finding = classify(ev)

    assert finding.branch == "app_env"
    assert remedy(finding, "set_env").params["name"] == "REDIS_CONNECTION_STRING"
    # a real host name that does not resolve stays a DNS problem
    assert classify(evidence(log_lines=("Error: getaddrinfo ENOTFOUND redis-primary",))).branch == "networking_deps"


def test_netcheck_reads_the_dependency_from_a_literal_env_value_when_the_line_names_no_host() -> None:
    zk = env_endpoint({"name": "KAFKA_ZOOKEEPER_CONNECT", "value": "zookeeper:2181"})
    assert zk is not None
    line = "ZkTimeoutException: Unable to connect to zookeeper server within timeout: 6000"
    ev = evidence(log_lines=(line,), specs=[dataclasses.replace(spec(), endpoints=(zk,))])

    assert remedy(classify(ev), "netcheck").params == {"host": "zookeeper", "port": 2181}


def test_a_secret_value_never_becomes_an_endpoint() -> None:
    assert env_endpoint({"name": "DB_URL", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}) is None
    parsed = env_endpoint({"name": "DB_URL", "value": "postgres://app:hunter2@db:5432/app"})
    assert parsed is not None
    assert "hunter2" not in repr(parsed)


def test_claim_templates_give_mounts_their_size() -> None:
    pod_spec = {"containers": [{"name": "kafka", "volumeMounts": [{"name": "data", "mountPath": "/var/lib/kafka"}]}]}
    templates = [{"metadata": {"name": "data"}, "spec": {"resources": {"requests": {"storage": "100Gi"}}}}]

    (found,) = mounts(pod_spec, templates)

    assert (found.container, found.volume, found.path, found.claim, found.size) == (
        "kafka",
        "data",
        "/var/lib/kafka",
        "data",
        "100Gi",
    )


def test_an_event_repeated_by_several_pods_is_one_line_with_the_pod_count() -> None:
    msg = 'MountVolume.SetUp failed for volume "config" : configmap "grafana-ini" not found'
    events = [event("FailedMount", msg, count=5, name=f"grafana-{i}") for i in range(3)]
    events.append(event("FailedMount", 'MountVolume.SetUp failed for volume "data" : timeout', count=2))

    groups = group_events(events)

    assert [(g.count, g.pods) for g in groups] == [(15, 3), (2, 1)]
    assert groups[0].message == msg
    assert "(3 pods)" in groups[0].line()


def test_one_line_per_distinct_read_failure() -> None:
    failures = [ReadFailure(f"logs --previous shop/web-{i}/app", "403 Forbidden", "no") for i in range(4)]
    failures.append(ReadFailure("events of shop/web", "timeout", "slow"))

    lines = read_failure_lines(failures)

    assert len(lines) == 2
    assert lines[0].startswith("logs --previous (4 reads")
    finding = classify(evidence(log_lines=("boom",), failures=failures))
    assert sum("could not read" in r.text for r in finding.reasons) == 2


def test_rbac_for_a_cluster_scope_request_proposes_a_cluster_role() -> None:
    line = (
        'pods is forbidden: User "system:serviceaccount:shop:default" cannot list resource "pods" in API group "" '
        "at the cluster scope"
    )
    finding = classify(evidence(log_lines=(line,)))

    assert "kind: ClusterRole\n" in finding.proposal
    assert "kind: ClusterRoleBinding" in finding.proposal
    assert 'verbs: ["get", "list"]' in finding.proposal
    assert remedy(finding, "service_account").params["rbac_yaml"] == finding.proposal


def test_policy_without_operator_signatures_is_the_default() -> None:
    assert Policy().signatures == ()


def test_a_write_outside_any_volume_under_a_read_only_root_is_a_mount_problem() -> None:
    # open-cluster-management klusterlet: the PSP forced readOnlyRootFilesystem; the agent exits on its first mkdir
    line = "F1128 02:00:36.380318       1 cmd.go:161] mkdir /tmp/serving-cert-9"
    ro = dataclasses.replace(spec(), read_only_root=True)
    finding = classify(evidence(log_lines=(line,), specs=[ro]))

    assert finding.branch == "rbac_mounts"
    assert line in quotes(finding)
    assert "emptyDir at /tmp" in finding.next_step

    tmp = Mount("app", "tmp", "/tmp", source="emptyDir")
    ev = evidence(log_lines=(line,), specs=[ro])
    backed = classify(dataclasses.replace(ev, workload=dataclasses.replace(ev.workload, mounts=(tmp,))))
    assert "read-only" not in backed.summary
    assert classify(evidence(log_lines=(line,))).branch != "rbac_mounts"  # a writable root: not this rule


def test_a_missing_module_after_a_fresh_release_rolls_back_first() -> None:
    from tests.unit.builders import rollout

    line = "Error: Cannot find module 'btoa'"
    fresh = classify(evidence(log_lines=(line,), rollout=rollout()))
    settled = classify(evidence(log_lines=(line,)))

    assert fresh.branch == settled.branch == "image_config"
    assert remedy_ids(fresh)[0] == "rollout_undo"
    assert "set_image" in remedy_ids(fresh)  # the previous revision's image, pinned
    assert remedy_ids(settled) == []  # nothing older to go back to: rebuild the image
    assert "Node.js module btoa is not in the image" in settled.summary
