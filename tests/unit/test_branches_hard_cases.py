"""The hard cases of the runbook: signals that look alike but belong to different branches.

Each case states what an SRE would conclude from the same evidence; the classifier must agree, and its reasons
must quote the evidence that tells the cases apart.
"""

from __future__ import annotations

from datetime import datetime

import pytest
from builders import (
    CONTAINER,
    CURRENT_RS,
    IMAGE,
    NS,
    OLD_IMAGE,
    PREVIOUS_RS,
    ago,
    crashing,
    event,
    evidence,
    liveness_kill,
    pod,
    probe,
    quotes,
    remedy,
    remedy_ids,
    revision,
    rollout,
    spec,
    term,
    waiting,
)

from runbooks.classify import classify
from runbooks.model import ObjectRef, Policy, Rollout

LIVENESS_TIMEOUT = (
    'Liveness probe failed: Get "http://10.244.1.17:8080/healthz": context deadline exceeded '
    "(Client.Timeout exceeded while awaiting headers)"
)
FORBIDDEN = (
    "configmaps is forbidden: User "
    '"system:serviceaccount:shop:default" cannot list resource "configmaps" in API group "" in the namespace "shop"'
)


# --- exit 137: OOM kill or probe kill? ------------------------------------------------------------------------


@pytest.mark.parametrize("code", [137, 143])
def test_exit_after_a_liveness_kill_is_a_probe_problem_not_oom(code: int) -> None:
    ev = evidence(
        status=crashing(last=term("Error", code)),
        events=[event("Unhealthy", LIVENESS_TIMEOUT, count=15), liveness_kill(count=5)],
        specs=[spec(probes=[probe("liveness")])],
    )

    finding = classify(ev)

    assert finding.branch == "probes"
    assert "bump_memory" not in remedy_ids(finding)
    assert remedy_ids(finding)[0] == "patch_probes"
    not_oom = [r for r in finding.reasons if "not an OOM kill" in r.text]
    assert not_oom, [r.text for r in finding.reasons]
    assert f"exitCode={code}" in (not_oom[0].quote or "")
    assert any("failed liveness probe" in q for q in quotes(finding))
    assert finding.confidence >= 0.8


def test_exit_137_without_a_probe_kill_is_a_likely_oom_kill() -> None:
    finding = classify(evidence(status=crashing(last=term("Error", 137))))

    assert finding.branch == "resources"
    assert any("exitCode=137" in q for q in quotes(finding))
    # weaker than a kubelet-reported OOMKilled
    assert finding.confidence < classify(evidence(status=crashing(last=term("OOMKilled", 137)))).confidence


@pytest.mark.parametrize(
    "code",
    [pytest.param(137, id="exit-137"), pytest.param(1, id="exit-1"), pytest.param(0, id="exit-0")],
)
def test_oomkilled_reason_beats_the_exit_code(code: int) -> None:
    finding = classify(evidence(status=crashing(last=term("OOMKilled", code))))

    assert finding.branch == "resources"
    assert remedy_ids(finding)[0] == "bump_memory"
    assert any("reason=OOMKilled" in q and f"exitCode={code}" in q for q in quotes(finding))


def test_oomkilled_beats_a_probe_kill_and_a_stack_trace() -> None:
    ev = evidence(
        status=crashing(last=term("OOMKilled", 137)),
        events=[liveness_kill(), event("Unhealthy", LIVENESS_TIMEOUT, count=3)],
        log_lines=("Traceback (most recent call last):", "MemoryError"),
        specs=[spec(probes=[probe()])],
    )

    assert classify(ev).branch == "resources"


def test_go_runtime_out_of_memory_is_resources_not_an_app_crash() -> None:
    lines = ("fatal error: runtime: out of memory", "", "runtime stack:", "runtime.throw({0x9c1b2e, 0x16})")
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "resources"
    assert any("fatal error: runtime: out of memory" in q for q in quotes(finding))


# --- image problems that look like app crashes -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reason", "code", "message"),
    [
        pytest.param("StartError", 128, None, id="start-error-no-message"),
        pytest.param("ContainerCannotRun", 128, None, id="exit-128"),
        pytest.param(
            "StartError",
            128,
            "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
            'failed: unable to start container process: exec: "server": executable file not found in $PATH: unknown',
            id="executable-not-found",
        ),
        pytest.param(
            "StartError",
            128,
            "OCI runtime create failed: runc create failed: unable to start container process: exec /app/server: "
            "exec format error",
            id="exec-format-error",
        ),
        pytest.param(
            "Error",
            1,
            "exec /usr/local/bin/server: exec format error",
            id="exec-format-error-exit-1",
        ),
    ],
)
def test_start_errors_are_image_problems(reason: str, code: int, message: str | None) -> None:
    finding = classify(evidence(status=crashing(last=term(reason, code, message=message))))

    assert finding.branch == "image_config"
    assert finding.confidence >= 0.8
    if message:
        assert any(message[-40:] in q for q in quotes(finding)), quotes(finding)


def test_exec_format_error_in_the_logs_is_an_image_problem() -> None:
    # runc writes the failed exec to the container's own output: `kubectl logs --previous` shows it, the
    # status only says Error / exit 1
    finding = classify(
        evidence(
            status=crashing(last=term("Error", 1)),
            log_lines=("exec /usr/local/bin/server: exec format error",),
        )
    )

    assert finding.branch == "image_config"
    assert any("exec format error" in q for q in quotes(finding))


def test_start_error_after_a_new_image_offers_the_previous_image() -> None:
    day_old = rollout(current=revision(7, image=IMAGE, name=CURRENT_RS, created=ago(hours=26)))
    ev = evidence(status=crashing(last=term("StartError", 128)), rollout=day_old)

    finding = classify(ev)

    assert finding.branch == "image_config"
    assert remedy(finding, "set_image").params == {"container": CONTAINER, "image": OLD_IMAGE}


def test_exit_126_permission_denied_on_the_entrypoint_is_an_image_problem_not_rbac() -> None:
    ev = evidence(status=crashing(last=term("Error", 126)), log_lines=("/docker-entrypoint.sh: Permission denied",))

    finding = classify(ev)

    assert finding.branch == "image_config"
    assert any("exitCode=126" in q for q in quotes(finding))


# --- missing Secret / ConfigMap ---------------------------------------------------------------------------------


def test_create_container_config_error_with_a_missing_secret_is_image_config() -> None:
    ref = ObjectRef("Secret", "gateway-secrets", "env", "GATEWAY_TOKEN", "token", exists=False)
    ev = evidence(
        status=waiting("CreateContainerConfigError", 'secret "gateway-secrets" not found'),
        specs=[spec(refs=[ref])],
        events=[event("Failed", 'Error: secret "gateway-secrets" not found', count=9)],
    )

    finding = classify(ev)

    assert finding.branch == "image_config"
    assert any('secret "gateway-secrets" not found' in q for q in quotes(finding))
    set_env = remedy(finding, "set_env")
    assert set_env.params["name"] == "GATEWAY_TOKEN"
    assert set_env.params["container"] == CONTAINER
    assert "gateway-secrets" in finding.summary


def test_missing_key_in_an_existing_secret_names_the_key() -> None:
    ev = evidence(status=waiting("CreateContainerConfigError", "couldn't find key DB_PASSWORD in Secret shop/db-creds"))

    finding = classify(ev)

    assert finding.branch == "image_config"
    assert "DB_PASSWORD" in finding.next_step
    assert "db-creds" in finding.next_step


# --- RBAC ------------------------------------------------------------------------------------------------------


def test_forbidden_from_the_api_is_rbac_and_proposes_the_workloads_own_service_account() -> None:
    ev = evidence(
        log_lines=("Traceback (most recent call last):", f"kubernetes.ApiException: {FORBIDDEN}"),
        service_accounts=("default", "web"),
    )

    finding = classify(ev)

    assert finding.branch == "rbac_mounts"
    assert any('cannot list resource "configmaps"' in q for q in quotes(finding))
    sa = remedy(finding, "service_account")
    assert sa.params["from"] == "default"
    assert sa.params["service_account"] == "web"
    assert sa.params["missing"] == {"verb": "list", "resource": "configmaps", "apiGroup": ""}
    yaml_text = sa.params["rbac_yaml"]
    assert 'resources: ["configmaps"]' in yaml_text
    assert '"list"' in yaml_text
    assert '"get"' in yaml_text
    assert f"namespace: {NS}" in yaml_text
    assert "name: web" in yaml_text


def test_forbidden_for_the_default_account_proposes_creating_the_workloads_own() -> None:
    # issue 9, class 11: no better account exists yet, so the proposal creates it (reviewed YAML, never applied)
    finding = classify(evidence(log_lines=(FORBIDDEN,), service_accounts=("default",)))

    assert finding.branch == "rbac_mounts"
    sa = remedy(finding, "service_account")
    assert sa.params["service_account"] == "web"
    assert sa.params["create"] is True
    assert "kind: ServiceAccount" in sa.params["rbac_yaml"]
    assert "kind: ServiceAccount" in finding.proposal
    assert "may not list configmaps" in finding.summary


def test_forbidden_for_the_workloads_own_account_proposes_a_rule_not_a_switch() -> None:
    own = FORBIDDEN.replace("shop:default", "shop:web")
    finding = classify(evidence(log_lines=(own,), service_account="web", service_accounts=("default", "web")))

    assert finding.branch == "rbac_mounts"
    assert "service_account" not in remedy_ids(finding)
    assert 'resources: ["configmaps"]' in finding.proposal
    assert "apiVersion: v1\nkind: ServiceAccount" not in finding.proposal
    assert "name: web" in finding.proposal


def test_forbidden_in_a_json_api_error_body_names_the_service_account() -> None:
    # the Python kubernetes client prints the apiserver's Status as JSON: the quotes are escaped
    lines = (
        "kubernetes.client.exceptions.ApiException: (403)",
        "Reason: Forbidden",
        'HTTP response body: {"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"configmaps'
        ' is forbidden: User \\"system:serviceaccount:shop:default\\" cannot list resource \\"configmaps\\" in API '
        'group \\"\\" in the namespace \\"shop\\"","reason":"Forbidden","details":{"kind":"configmaps"},"code":403}',
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "rbac_mounts"
    texts = " ".join(r.text for r in finding.reasons)
    assert "default" in texts
    assert "configmaps" in texts


def test_pod_stuck_creating_because_a_volume_cannot_be_mounted_is_not_healthy() -> None:
    # a pod that never starts does not crash-loop, but it is not healthy either: 0/1 ready, FailedMount x12
    ev = evidence(
        status=waiting("ContainerCreating"),
        events=[
            event(
                "FailedMount",
                'MountVolume.SetUp failed for volume "certs" : secret "web-tls" not found',
                count=12,
            )
        ],
        focus_container=None,
    )

    finding = classify(ev)

    assert finding.branch == "rbac_mounts"
    assert any('volume "certs"' in q for q in quotes(finding))


# --- dependencies ----------------------------------------------------------------------------------------------


def test_dns_failure_in_a_python_traceback_is_a_dependency_not_an_app_crash() -> None:
    lines = (
        "Traceback (most recent call last):",
        '  File "/app/db.py", line 7, in connect',
        "    return psycopg2.connect(DSN)",
        'psycopg2.OperationalError: could not translate host name "orders-db" to address: Name or service not known',
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "networking_deps"
    assert remedy(finding, "netcheck").params == {"host": "orders-db", "port": 5432}
    assert "app_env" in finding.alternatives


def test_timestamps_and_source_positions_are_not_taken_for_the_dependency() -> None:
    lines = (
        "2024-05-01T11:59:58.120Z INFO  starting pricing service",
        "2024-05-01T11:59:58.734Z ERROR Failed to start: java.net.ConnectException: Connection refused",
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "networking_deps"
    # the log names no dependency: a netcheck of "T11:59" would be a wrong remedy
    assert "netcheck" not in remedy_ids(finding), [r.params for r in finding.remedies]


def test_go_caller_prefix_is_not_taken_for_the_dependency() -> None:
    lines = ("2024/05/01 11:59:58 main.go:42: cannot reach the payments API: connection refused",)
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "networking_deps"
    hosts = [r.params.get("host") for r in finding.remedies if str(r.id) == "netcheck"]
    assert "main.go" not in hosts


def test_keyerror_on_a_dict_key_is_not_a_missing_environment_variable() -> None:
    lines = (
        "Traceback (most recent call last):",
        '  File "/app/orders.py", line 31, in handle',
        "    user = payload['user_id']",
        "KeyError: 'user_id'",
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "app_env"
    assert "set_env" not in remedy_ids(finding), [r.params for r in finding.remedies]


# --- fresh release --------------------------------------------------------------------------------------------


FRESH_ROWS = [
    pytest.param(dict(log_lines=("Traceback (most recent call last):", "ValueError: bad pricing rule")), id="app"),
    pytest.param(dict(status=crashing(last=term("OOMKilled", 137))), id="oom"),
    pytest.param(dict(status=crashing(last=term("StartError", 128))), id="start-error"),
    pytest.param(dict(log_lines=("KeyError: 'PRICING_URL'",)), id="missing-env"),
    pytest.param(dict(status=crashing(last=term("Error", 1))), id="bare-exit-1"),
]


@pytest.mark.parametrize("kw", FRESH_ROWS)
def test_crash_right_after_a_new_revision_offers_rollout_undo_first(kw: dict[str, object]) -> None:
    ev = evidence(rollout=rollout(), **kw)  # type: ignore[arg-type]

    finding = classify(ev)

    first = finding.remedies[0]
    assert str(first.id) == "rollout_undo"
    assert first.params["to_revision"] == 6
    assert first.params["images"] == {CONTAINER: OLD_IMAGE}
    assert "6" in first.title
    assert OLD_IMAGE in first.title
    assert finding.next_step == first.title
    release = [r for r in finding.reasons if r.source == "rollout"]
    assert release, [r.text for r in finding.reasons]
    assert "revision 7" in release[0].text
    assert OLD_IMAGE in (release[0].quote or "")
    assert IMAGE in (release[0].quote or "")
    assert len(remedy_ids(finding)) == len(set(remedy_ids(finding)))


def test_fresh_release_keeps_the_branch_remedies_after_the_rollback() -> None:
    finding = classify(evidence(status=crashing(last=term("OOMKilled", 137)), rollout=rollout()))

    assert finding.branch == "resources"
    assert remedy_ids(finding)[:2] == ["rollout_undo", "bump_memory"]


@pytest.mark.parametrize(
    ("created", "policy"),
    [
        pytest.param(ago(hours=3), Policy(), id="3h-ago-default-2h-window"),
        pytest.param(ago(minutes=11), Policy(fresh_release_window_seconds=600), id="11m-ago-10m-window"),
        pytest.param(ago(minutes=-5), Policy(), id="created-after-collection"),
    ],
)
def test_release_outside_the_window_gets_no_rollout_undo(created: datetime, policy: Policy) -> None:
    old_release = rollout(current=revision(7, image=IMAGE, name=CURRENT_RS, created=created))
    ev = evidence(log_lines=("Traceback (most recent call last):", "ValueError: bad pricing rule"), rollout=old_release)

    finding = classify(ev, policy)

    assert "rollout_undo" not in remedy_ids(finding)
    assert not any(r.source == "rollout" for r in finding.reasons)


def test_release_inside_a_configured_window_is_fresh() -> None:
    recent = rollout(current=revision(7, image=IMAGE, name=CURRENT_RS, created=ago(minutes=9)))
    ev = evidence(log_lines=("ValueError: bad pricing rule",), rollout=recent)

    finding = classify(ev, Policy(fresh_release_window_seconds=600))

    assert remedy_ids(finding)[0] == "rollout_undo"


def test_no_rollout_undo_when_the_crashing_pods_run_the_previous_revision() -> None:
    ev = evidence(pods=[pod(crashing(), revision=PREVIOUS_RS)], rollout=rollout())

    assert "rollout_undo" not in remedy_ids(classify(ev))


def test_no_rollout_undo_without_a_previous_revision() -> None:
    current = revision(1, image=IMAGE, name=CURRENT_RS, created=ago(minutes=10))
    first_release = Rollout(revisions=(current,), current=current, previous=None)
    ev = evidence(log_lines=("ValueError: bad pricing rule",), rollout=first_release)

    assert "rollout_undo" not in remedy_ids(classify(ev))


def test_image_pull_failure_after_a_release_rolls_back_then_pins_the_previous_image() -> None:
    ev = evidence(
        status=waiting("ImagePullBackOff", f'Back-off pulling image "{IMAGE}"'),
        rollout=rollout(),
    )

    finding = classify(ev)

    assert finding.branch == "image_config"
    assert remedy_ids(finding)[:2] == ["rollout_undo", "set_image"]
    assert remedy(finding, "set_image").params["image"] == OLD_IMAGE
