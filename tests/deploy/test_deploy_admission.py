"""The ValidatingAdmissionPolicies admit what the bot really sends, and refuse what a stolen token would try.

RBAC can only say "create pods" and "patch deployments"; deploy/rbac/actions/admission-policy.yaml (and the chart's
templates/admission-policy.yaml) pin the shapes. Their CEL is evaluated here with cel-python, offline, the way the
API server does: matchConditions first (only the bot's ServiceAccount is in scope), then the variables in order,
then every validation (an error counts as a refusal, as with failurePolicy: Fail). The objects are the ones the
bot's own code builds: `netcheck_pod` for the pod, `plan()` patches merged into a workload for the changes.
Both renderings (Kustomize and the chart) are evaluated; their schema validity is checked with every other
rendered object in test_deploy_kustomize.py / test_deploy_helm.py, and once more here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import celpy
import kubernetes_validate
import pytest
import yaml
from celpy import celtypes

from bot.remedies.patches import NETCHECK_SCRIPT, netcheck_pod, plan
from tests.deploy.deploytools import CHART, NAMESPACE, SERVICE_ACCOUNT, KubeObject, chart, helm, one, overlay, run
from tests.deploy.test_deploy_helm import KUBERNETES_VERSIONS

BOT = f"system:serviceaccount:{NAMESPACE}:{SERVICE_ACCOUNT}"
POD_POLICY = "crashloop-bot-netcheck-pod"
WORKLOAD_POLICY = "crashloop-bot-workload-changes"
SOURCES = ("kustomize", "helm")
_CEL = celpy.Environment()


def _render(source: str) -> tuple[KubeObject, ...]:
    return overlay("single") if source == "kustomize" else chart("single")


@pytest.fixture(params=SOURCES)
def policies(request: pytest.FixtureRequest) -> tuple[KubeObject, ...]:
    return _render(str(request.param))


def _eval(expression: str, activation: dict[str, Any]) -> Any:
    try:
        return _CEL.program(_CEL.compile(expression)).evaluate(activation)
    except celpy.CELEvalError as exc:
        return exc


def admission(
    policy: KubeObject, *, obj: Any, old: Any = None, username: str = BOT, operation: str = "CREATE"
) -> list[str] | None:
    """None when the policy does not apply to the request; else the messages of the failed validations."""
    spec = policy["spec"]
    request = celpy.json_to_cel({"userInfo": {"username": username}, "operation": operation})
    activation: dict[str, Any] = {"request": request, "object": celpy.json_to_cel(obj)}
    if old is not None:
        activation["oldObject"] = celpy.json_to_cel(old)
    if not all(_eval(c["expression"], activation) == celtypes.BoolType(True) for c in spec["matchConditions"]):
        return None
    variables: dict[celtypes.StringType, Any] = {}
    for variable in spec.get("variables", []):
        scope = {**activation, "variables": celtypes.MapType(variables)}
        variables[celtypes.StringType(variable["name"])] = _eval(variable["expression"], scope)
    activation["variables"] = celtypes.MapType(variables)
    refused = []
    for rule in spec["validations"]:
        if _eval(rule["expression"], activation) != celtypes.BoolType(True):
            message = _eval(rule["messageExpression"], activation) if "messageExpression" in rule else None
            assert not isinstance(message, Exception), f"messageExpression fails: {message}"
            refused.append(str(message or rule["message"]))
    return refused


def _policy(objects: tuple[KubeObject, ...], name: str) -> KubeObject:
    return one(objects, "ValidatingAdmissionPolicy", name)


# --- the netcheck pod -------------------------------------------------------------------------------------------


def _bot_pod(host: str = "orders-db.payments.svc", port: int | None = 5432) -> dict[str, Any]:
    return netcheck_pod("payments", host, port, name="netcheck-orders-3f9a1c", owner_workload="orders")


@pytest.mark.parametrize(("host", "port"), [("orders-db.payments.svc", 5432), ("10.0.0.7", None), ("2001:db8::1", 443)])
def test_the_netcheck_pod_the_bot_builds_is_admitted(
    policies: tuple[KubeObject, ...], host: str, port: int | None
) -> None:
    assert admission(_policy(policies, POD_POLICY), obj=_bot_pod(host, port)) == []


def test_the_policy_pins_the_bots_exact_script() -> None:
    for source in SOURCES:
        (script,) = [
            v for v in _policy(_render(source), POD_POLICY)["spec"]["variables"] if v["name"] == "netcheckScript"
        ]
        assert _eval(script["expression"], {}) == celtypes.StringType(NETCHECK_SCRIPT), source


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    container: dict[str, Any] = pod["spec"]["containers"][0]
    return container


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(pod: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value

    return change


def _host_path(pod: dict[str, Any]) -> None:
    pod["spec"]["volumes"] = [{"name": "root", "hostPath": {"path": "/"}}]
    _container(pod)["volumeMounts"] = [{"name": "root", "mountPath": "/host"}]


def _secret_env(pod: dict[str, Any]) -> None:
    _container(pod)["env"].append(
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "payments-db", "key": "password"}}}
    )


def _second_container(pod: dict[str, Any]) -> None:
    pod["spec"]["containers"].append({**copy.deepcopy(_container(pod)), "name": "sidecar"})


def _no_limits(pod: dict[str, Any]) -> None:
    del _container(pod)["resources"]["limits"]


def _no_netcheck_label(pod: dict[str, Any]) -> None:
    del pod["metadata"]["labels"]["crashloop.dev/netcheck"]


COUNTER_EXAMPLES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "privileged": (_set("spec.containers.0.securityContext.privileged", True), "unprivileged"),
    "privilege escalation": (_set("spec.containers.0.securityContext.allowPrivilegeEscalation", True), "escalation"),
    "an added capability": (_set("spec.containers.0.securityContext.capabilities.add", ["NET_ADMIN"]), "capabilities"),
    "another image": (_set("spec.containers.0.image", "alpine:3.20"), "busybox:1.36 only"),
    "another busybox tag": (_set("spec.containers.0.image", "busybox:latest"), "busybox:1.36 only"),
    "a hostPath volume": (_host_path, "mounts no volume"),
    "the host network": (_set("spec.hostNetwork", True), "host namespace"),
    "the host PID namespace": (_set("spec.hostPID", True), "host namespace"),
    "a chosen node": (_set("spec.nodeName", "control-plane-1"), "scheduler"),
    "another script": (_set("spec.containers.0.command", ["sh", "-c", "cat /etc/shadow"]), "fixed check script"),
    "extra args": (_set("spec.containers.0.args", ["-x"]), "fixed check script"),
    "a Secret in the env": (_secret_env, "literal values"),
    "root": (_set("spec.securityContext.runAsUser", 0), "non-root"),
    "runAsNonRoot false": (_set("spec.securityContext.runAsNonRoot", False), "non-root"),
    "an API token": (_set("spec.automountServiceAccountToken", True), "without an API token"),
    "another ServiceAccount": (_set("spec.serviceAccountName", "payments-admin"), "default ServiceAccount"),
    "no limits": (_no_limits, "limits"),
    "bigger limits": (_set("spec.containers.0.resources.limits.memory", "8Gi"), "limits"),
    "two containers": (_second_container, "exactly one container"),
    "not labelled as a netcheck": (_no_netcheck_label, "labels"),
    "restarted forever": (_set("spec.restartPolicy", "Always"), "runs once"),
    "no deadline": (_set("spec.activeDeadlineSeconds", 3600), "runs once"),
}


@pytest.mark.parametrize("case", sorted(COUNTER_EXAMPLES))
def test_a_pod_of_another_shape_is_refused(policies: tuple[KubeObject, ...], case: str) -> None:
    change, why = COUNTER_EXAMPLES[case]
    pod = _bot_pod()
    change(pod)
    refused = admission(_policy(policies, POD_POLICY), obj=pod)
    assert refused, f"{case}: admitted"
    assert any(why in message for message in refused), refused


def test_only_the_bots_requests_are_in_scope(policies: tuple[KubeObject, ...]) -> None:
    """Other users' pods are not this policy's business (Pod Security and their own RBAC are)."""
    privileged = _bot_pod()
    _set("spec.containers.0.securityContext.privileged", True)(privileged)
    policy = _policy(policies, POD_POLICY)
    assert admission(policy, obj=privileged, username=BOT)
    for other in ("system:serviceaccount:payments:default", "system:serviceaccount:crashloop:other", "admin"):
        assert admission(policy, obj=privileged, username=other) is None, other


def test_the_matched_username_is_the_rendered_deployments_service_account(policies: tuple[KubeObject, ...]) -> None:
    deployment = one(policies, "Deployment", "crashloop-bot")
    account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
    username = f"system:serviceaccount:{deployment['metadata']['namespace']}:{account}"
    for name in (POD_POLICY, WORKLOAD_POLICY):
        assert admission(_policy(policies, name), obj={}, username=username) is not None, name


# --- workload changes -------------------------------------------------------------------------------------------


def _workload(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "inventory-sync", "namespace": "shop"},
        "spec": {
            "selector": {"matchLabels": {"app": "inventory-sync"}},
            "template": {
                "metadata": {"labels": {"app": "inventory-sync"}},
                "spec": {
                    "serviceAccountName": "inventory-reader",
                    "containers": [{"name": "app", "image": "registry.example.net/inventory-sync:2.3.1"}],
                    **spec,
                },
            },
        },
    }


def _merge(base: Any, patch: Any) -> Any:
    """A strategic-merge of the map-only patches used here (what the API server makes of them)."""
    if isinstance(base, dict) and isinstance(patch, dict):
        return {**base, **{key: _merge(base.get(key), value) for key, value in patch.items()}}
    return copy.deepcopy(patch)


def _applied(remedy: str, params: dict[str, Any], workload: dict[str, Any]) -> dict[str, Any]:
    change = plan(remedy, params, workload, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert change.patch_type == "strategic"
    merged: dict[str, Any] = _merge(workload, change.body)
    return merged


def test_the_bots_own_changes_are_admitted(policies: tuple[KubeObject, ...]) -> None:
    policy, old = _policy(policies, WORKLOAD_POLICY), _workload()
    to_default = _applied("service_account", {"service_account": "default"}, old)
    assert to_default["spec"]["template"]["spec"]["serviceAccountName"] == "default"
    assert admission(policy, obj=to_default, old=old, operation="UPDATE") == []
    restarted = _applied("rollout_restart", {}, old)
    assert admission(policy, obj=restarted, old=old, operation="UPDATE") == [], "keeps its own ServiceAccount"


def test_a_switch_to_a_service_account_not_listed_is_refused(policies: tuple[KubeObject, ...]) -> None:
    policy, old = _policy(policies, WORKLOAD_POLICY), _workload()
    switched = _applied("service_account", {"service_account": "cluster-operator"}, old)
    refused = admission(policy, obj=switched, old=old, operation="UPDATE")
    assert refused == [
        "the bot may switch a workload only to a ServiceAccount listed in the admission policy, not cluster-operator"
    ]


def test_the_deprecated_service_account_field_cannot_smuggle_another_account(policies: tuple[KubeObject, ...]) -> None:
    old = _workload()
    smuggled = _merge(old, {"spec": {"template": {"spec": {"serviceAccount": "cluster-operator"}}}})
    assert admission(_policy(policies, WORKLOAD_POLICY), obj=smuggled, old=old, operation="UPDATE")


@pytest.mark.parametrize(
    ("fragment", "why"),
    [
        ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath"),
        ({"containers": [{"name": "app", "image": "x", "securityContext": {"privileged": True}}]}, "privileged"),
        ({"hostNetwork": True}, "host namespace"),
        ({"hostPID": True}, "host namespace"),
    ],
    ids=["hostPath", "privileged", "hostNetwork", "hostPID"],
)
def test_a_patch_cannot_add_host_access_or_privilege(
    policies: tuple[KubeObject, ...], fragment: dict[str, Any], why: str
) -> None:
    policy, old = _policy(policies, WORKLOAD_POLICY), _workload()
    new = _merge(old, {"spec": {"template": {"spec": fragment}}})
    refused = admission(policy, obj=new, old=old, operation="UPDATE")
    assert refused
    assert any(why in message for message in refused), refused
    # What the workload already had is not the bot's doing: a restart of it is admitted.
    before = _workload(**fragment)
    assert admission(policy, obj=_applied("rollout_restart", {}, before), old=before, operation="UPDATE") == []


def test_the_chart_writes_the_operators_list_of_service_accounts() -> None:
    out = run(
        [
            helm(),
            "template",
            "crashloop-bot",
            str(CHART),
            "-n",
            NAMESPACE,
            "--set-json",
            'rbac.admissionPolicy.allowedServiceAccounts=["default","inventory-writer"]',
        ]
    ).stdout
    policy = _policy(tuple(d for d in yaml.safe_load_all(out) if d), WORKLOAD_POLICY)
    old = _workload()
    allowed = _applied("service_account", {"service_account": "inventory-writer"}, old)
    assert admission(policy, obj=allowed, old=old, operation="UPDATE") == []
    other = _applied("service_account", {"service_account": "payments-admin"}, old)
    assert admission(policy, obj=other, old=old, operation="UPDATE")


def test_the_chart_can_leave_the_policies_out() -> None:
    out = run(
        [
            helm(),
            "template",
            "crashloop-bot",
            str(CHART),
            "-n",
            NAMESPACE,
            "--set",
            "rbac.admissionPolicy.enabled=false",
        ]
    ).stdout
    kinds = {d["kind"] for d in yaml.safe_load_all(out) if d}
    assert not kinds & {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}


# --- the objects themselves -------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_policies_and_bindings_validate_against_the_kubernetes_schema(
    policies: tuple[KubeObject, ...], version: str
) -> None:
    for name in (POD_POLICY, WORKLOAD_POLICY):
        policy, binding = _policy(policies, name), one(policies, "ValidatingAdmissionPolicyBinding", name)
        kubernetes_validate.validate(policy, version, strict=True)
        kubernetes_validate.validate(binding, version, strict=True)
        assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert binding["spec"] == {"policyName": name, "validationActions": ["Deny"]}
