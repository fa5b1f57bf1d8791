"""The RBAC grants exactly what the code calls: no verb more, no verb less.

The calls are derived from the code itself. `bot/kube/client.py` is the only module that talks to the Kubernetes
API; its classes are the adapters (KubeReader, KubeWriter, LeaseClient). For every method of an adapter, `ast` finds
the routes it names (string literals that are keys of the module's ROUTES table: each one HTTP method and path);
API_CALLS maps each to the RBAC it needs, and a test checks each entry against its route's method and path. A method
whose name no module of bot/ or handlers/ references (dead code) is not counted; the match is by name, so a generic
name such as LeaseClient.get always counts as used, which errs towards granting. Each adapter is granted through one
role (ADAPTER_ROLES), except the calls CALL_ROLES moves to a narrower one (`get secrets`: a Role in each environment
namespace, not the cluster-wide triage role); the rendered role's rules, expanded to (apiGroup, resource, verb)
triples, must equal the derived triples.

The same checks run on both ways of installing: the Kustomize overlays and the Helm chart rendered with its
ci/ values files (`single` and `ha` shapes), and the two must grant the very same rules.

When this test fails after a change to bot/kube/client.py: add the new route to API_CALLS, then grant (or stop
granting) it in deploy/rbac/ with a comment naming the code path, and in deploy/helm/crashloop-bot/templates/rbac-*.
"""

from __future__ import annotations

import ast
import functools
import os
from typing import Any

import pytest
import yaml

from bot.core.config import LeaderElection
from bot.kube.client import ROUTES
from tests.deploy.deploytools import (
    CHART,
    DEPLOY,
    NAMESPACE,
    OVERLAYS,
    REPO,
    SERVICE_ACCOUNT,
    KubeObject,
    chart,
    find,
    helm,
    load_yaml,
    one,
    overlay,
    run,
)

Triple = tuple[str, str, str]  # (apiGroup, resource, verb)

K8S_MODULE = REPO / "bot" / "kube" / "client.py"
# The code that may call the adapters: the service and its edges (not the simulated cluster or Slack stand-in).
CALLER_ROOTS = (REPO / "bot", REPO / "handlers")
NOT_CALLERS = (REPO / "bot" / "devtools",)

# Every route bot/kube/client.py's adapters name (its ROUTES table) → the RBAC it needs. None: no RBAC rule is needed.
API_CALLS: dict[str, Triple | None] = {
    # core/v1
    "read_pod": ("", "pods", "get"),
    "list_pods": ("", "pods", "list"),
    "create_pod": ("", "pods", "create"),
    "delete_pod": ("", "pods", "delete"),
    "read_pod_log": ("", "pods/log", "get"),
    "list_events": ("", "events", "list"),
    "read_secret": ("", "secrets", "get"),
    "read_configmap": ("", "configmaps", "get"),
    "read_serviceaccount": ("", "serviceaccounts", "get"),
    "list_serviceaccounts": ("", "serviceaccounts", "list"),
    # apps/v1
    "read_deployment": ("apps", "deployments", "get"),
    "list_deployments": ("apps", "deployments", "list"),
    "patch_deployment": ("apps", "deployments", "patch"),
    "read_statefulset": ("apps", "statefulsets", "get"),
    "list_statefulsets": ("apps", "statefulsets", "list"),
    "patch_statefulset": ("apps", "statefulsets", "patch"),
    "read_daemonset": ("apps", "daemonsets", "get"),
    "list_daemonsets": ("apps", "daemonsets", "list"),
    "patch_daemonset": ("apps", "daemonsets", "patch"),
    "read_replicaset": ("apps", "replicasets", "get"),
    "list_replicasets": ("apps", "replicasets", "list"),
    "list_controllerrevisions": ("apps", "controllerrevisions", "list"),
    # coordination.k8s.io/v1 (leader election)
    "read_lease": ("coordination.k8s.io", "leases", "get"),
    "create_lease": ("coordination.k8s.io", "leases", "create"),
    "replace_lease": ("coordination.k8s.io", "leases", "update"),
    # GET /version: a non-resource URL every authenticated client may read (system:public-info-viewer).
    "version": None,
}

# Which role grants each adapter's calls, and in which overlays that role exists.
ADAPTER_ROLES = {
    "KubeReader": "crashloop-bot-triage",
    "KubeWriter": "crashloop-bot-actions",
    "LeaseClient": "crashloop-bot-leader-election",
}
# Calls granted through another role than their adapter's: Secrets are read only in the environments' namespaces.
CALL_ROLES: dict[Triple, str] = {("", "secrets", "get"): "crashloop-bot-secret-refs"}
# Roles that exist once per namespace of crashloop.yaml's environments (a Role + RoleBinding each).
PER_NAMESPACE_ROLES = {"crashloop-bot-secret-refs"}
ROLE_OVERLAYS = {
    "crashloop-bot-triage": {"single", "ha"},
    "crashloop-bot-secret-refs": {"single", "ha"},
    "crashloop-bot-actions": {"single", "ha"},
    # With SQLite the one replica is its own leader and never touches a Lease (see test below).
    "crashloop-bot-leader-election": {"ha"},
}
WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection"}
DANGEROUS_VERBS = {"escalate", "bind", "impersonate", "*"}
DANGEROUS_SUBRESOURCES = {"pods/exec", "pods/attach", "pods/portforward", "pods/proxy", "nodes/proxy"}


SOURCES = [(tool, shape) for tool in ("kustomize", "helm") for shape in OVERLAYS]


def _render(tool: str, shape: str) -> tuple[KubeObject, ...]:
    return overlay(shape) if tool == "kustomize" else chart(shape)


@pytest.fixture(params=SOURCES, ids=[f"{t}-{s}" for t, s in SOURCES])
def source(request: pytest.FixtureRequest) -> tuple[str, str]:
    tool, shape = request.param
    return str(tool), str(shape)


@pytest.fixture
def overlay_name(source: tuple[str, str]) -> str:
    """The shape (single or ha) of the rendering under test; overrides conftest's Kustomize-only fixture."""
    return source[1]


@pytest.fixture
def rendered(source: tuple[str, str]) -> tuple[KubeObject, ...]:
    """The Kustomize overlay or the chart rendered with the matching ci/ values file."""
    return _render(*source)


def _routes() -> set[str]:
    """The route names of bot/kube/client.py's ROUTES table: what counts as an API call there."""
    return set(ROUTES)


def _adapter_calls() -> dict[str, dict[str, set[str]]]:
    """{adapter class: {method: {routes it names}}} from bot/kube/client.py's syntax tree (route names are literal)."""
    routes = _routes()
    tree = ast.parse(K8S_MODULE.read_text(encoding="utf-8"))
    result: dict[str, dict[str, set[str]]] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            stray = {a.value for a in ast.walk(node) if isinstance(a, ast.Constant) and a.value in routes}
            assert not stray, f"bot/kube/client.py: module-level {node.name}() calls {stray}: use an adapter class"
        if not isinstance(node, ast.ClassDef):
            continue
        methods: dict[str, set[str]] = {}
        for item in node.body:
            if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                calls = {a.value for a in ast.walk(item) if isinstance(a, ast.Constant) and a.value in routes}
                if calls:
                    methods[item.name] = calls
        if methods:
            result[node.name] = methods
    return result


def test_each_route_grant_matches_its_http_method_and_path() -> None:
    """API_CALLS is written by hand; each entry must agree with the request its route really sends."""
    verbs = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
    assert set(API_CALLS) == set(ROUTES), "every route of bot/kube/client.py needs its grant decided in API_CALLS"
    for route, (method, path) in ROUTES.items():
        triple = API_CALLS[route]
        if triple is None:
            assert not path.startswith(("/api/", "/apis/")), f"{route}: a resource path needs a grant"
            continue
        parts = path.strip("/").split("/")
        group = "" if parts[0] == "api" else parts[1]
        after = parts[parts.index("{namespace}") + 1 :]
        resource = after[0] + ("/" + after[2] if len(after) > 2 else "")
        verb = "list" if method == "GET" and len(after) == 1 else verbs[method]
        assert triple == (group, resource, verb), f"{route} sends {method} {path}"


def _referenced_attributes() -> set[str]:
    """Attribute names used anywhere in the bot's code (a method referenced nowhere is dead)."""
    names: set[str] = set()
    for root in CALLER_ROOTS:
        for path in root.rglob("*.py"):
            if any(path.is_relative_to(p) for p in NOT_CALLERS):
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            names |= {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    return names


@functools.cache
def derived_grants() -> dict[str, frozenset[Triple]]:
    """{role name: the (apiGroup, resource, verb) triples the code needs through it}."""
    adapters = _adapter_calls()
    unknown_adapters = set(adapters) - set(ADAPTER_ROLES)
    assert not unknown_adapters, f"bot/kube/client.py: new adapter(s) {unknown_adapters}: map them in ADAPTER_ROLES"
    used = _referenced_attributes()
    grants: dict[str, set[Triple]] = {role: set() for role in [*ADAPTER_ROLES.values(), *CALL_ROLES.values()]}
    for adapter, methods in adapters.items():
        for method, calls in methods.items():
            if method not in used:
                continue  # dead code: nothing calls it, so nothing is granted for it
            unknown = calls - set(API_CALLS)
            assert not unknown, f"{adapter}.{method} calls {unknown}: add them to API_CALLS and decide the grant"
            for triple in (t for c in calls if (t := API_CALLS[c]) is not None):
                grants[CALL_ROLES.get(triple, ADAPTER_ROLES[adapter])].add(triple)
    return {role: frozenset(triples) for role, triples in grants.items()}


def _rules_of(rendered: tuple[KubeObject, ...], name: str) -> list[dict[str, Any]]:
    """The rules of the role `name`; a per-namespace role must have the very same rules in every namespace."""
    roles = find(rendered, "ClusterRole", name) + find(rendered, "Role", name)
    if name in PER_NAMESPACE_ROLES:
        assert roles, f"no role named {name}"
        assert all(r["kind"] == "Role" for r in roles), f"{name}: namespaced Roles only"
        assert all(r["rules"] == roles[0]["rules"] for r in roles), f"{name}: the same rules in every namespace"
    else:
        assert len(roles) == 1, f"one role named {name}"
    rules: list[dict[str, Any]] = roles[0].get("rules") or []
    return rules


def _configured_namespaces() -> set[str]:
    config = load_yaml(DEPLOY / "base" / "crashloop.yaml")
    return {ns for env in config["environments"].values() for ns in env["namespaces"]}


def _triples(rules: list[dict[str, Any]]) -> set[Triple]:
    return {
        (group, resource, verb)
        for rule in rules
        for group in rule.get("apiGroups", [])
        for resource in rule.get("resources", [])
        for verb in rule.get("verbs", [])
    }


def _bindings(rendered: tuple[KubeObject, ...]) -> list[KubeObject]:
    return find(rendered, "RoleBinding") + find(rendered, "ClusterRoleBinding")


# --- the derivation itself -------------------------------------------------------------------------------------


def test_the_derivation_sees_the_calls_of_every_adapter() -> None:
    """Guards the derivation: it finds known calls of each adapter (else the equality below proves nothing)."""
    grants = derived_grants()
    assert ("", "pods/log", "get") in grants["crashloop-bot-triage"]
    assert ("apps", "deployments", "patch") in grants["crashloop-bot-actions"]
    assert ("coordination.k8s.io", "leases", "update") in grants["crashloop-bot-leader-election"], (
        "bot/kube/client.py LeaseClient (leader election) is expected: replace_namespaced_lease → leases update"
    )
    # KubeReader.exists("Secret") needs `get secrets`: granted per namespace, never by the cluster-wide triage role.
    assert ("", "secrets", "get") in grants["crashloop-bot-secret-refs"]
    assert not any(resource == "secrets" for _, resource, _ in grants["crashloop-bot-triage"])
    # KubeReader.list_namespaces exists but nothing calls it: namespaces are not listed, so not granted.
    assert ("", "namespaces", "list") not in grants["crashloop-bot-triage"]


# --- no more, no less ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", sorted(ROLE_OVERLAYS))
def test_each_role_grants_exactly_what_its_adapter_calls(
    overlay_name: str, rendered: tuple[KubeObject, ...], role: str
) -> None:
    if overlay_name not in ROLE_OVERLAYS[role]:
        assert not find(rendered, "Role", role)
        assert not find(rendered, "ClusterRole", role)
        return
    granted, needed = _triples(_rules_of(rendered, role)), derived_grants()[role]
    assert granted - needed == set(), f"{role} grants more than the code calls"
    assert needed - granted == set(), f"{role} lacks what the code calls"


def test_all_rbac_together_equals_all_derived_calls(rendered: tuple[KubeObject, ...], overlay_name: str) -> None:
    roles = find(rendered, "ClusterRole") + find(rendered, "Role")
    granted = set().union(*(_triples(r.get("rules") or []) for r in roles))
    needed = set().union(*(g for role, g in derived_grants().items() if overlay_name in ROLE_OVERLAYS[role]))
    assert granted == needed


def test_every_rbac_object_belongs_to_the_bot_and_binds_only_its_service_account(
    overlay_name: str, rendered: tuple[KubeObject, ...]
) -> None:
    role_names = {r["metadata"]["name"] for r in find(rendered, "ClusterRole") + find(rendered, "Role")}
    assert role_names == {role for role, overlays in ROLE_OVERLAYS.items() if overlay_name in overlays}
    for binding in _bindings(rendered):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": SERVICE_ACCOUNT, "namespace": NAMESPACE}]
        assert binding["roleRef"]["name"] in role_names, "bindings reference only the bot's own roles"


# --- what must never be granted --------------------------------------------------------------------------------


def test_no_wildcards_exec_secret_listing_or_privilege_escalation(rendered: tuple[KubeObject, ...]) -> None:
    for role in find(rendered, "ClusterRole") + find(rendered, "Role"):
        name = role["metadata"]["name"]
        assert "aggregationRule" not in role, name
        for rule in role.get("rules") or []:
            assert "nonResourceURLs" not in rule, name
            groups, resources, verbs = rule.get("apiGroups", []), rule.get("resources", []), rule["verbs"]
            assert "*" not in [*groups, *resources, *verbs], f"{name}: wildcard"
            assert not any(r.endswith("/*") for r in resources), f"{name}: subresource wildcard"
            assert not DANGEROUS_SUBRESOURCES & set(resources), f"{name}: {DANGEROUS_SUBRESOURCES & set(resources)}"
            assert not DANGEROUS_VERBS & set(verbs), f"{name}: {DANGEROUS_VERBS & set(verbs)}"
            assert "watch" not in verbs, f"{name}: the bot never watches"
            if "secrets" in resources:
                assert set(verbs) == {"get"}, f"{name}: secrets may only be read by name, never listed/watched"


def test_no_cluster_wide_write(rendered: tuple[KubeObject, ...]) -> None:
    for binding in find(rendered, "ClusterRoleBinding"):
        role = binding["roleRef"]["name"]
        verbs = {v for rule in _rules_of(rendered, role) for v in rule["verbs"]}
        assert not verbs & WRITE_VERBS, f"ClusterRoleBinding {binding['metadata']['name']} grants {verbs & WRITE_VERBS}"


def test_changes_are_granted_only_in_the_configured_namespaces(rendered: tuple[KubeObject, ...]) -> None:
    configured = _configured_namespaces()
    actions = [b for b in _bindings(rendered) if b["roleRef"]["name"] == "crashloop-bot-actions"]
    assert all(b["kind"] == "RoleBinding" for b in actions)
    assert {b["metadata"]["namespace"] for b in actions} == configured
    assert len(actions) == len(configured)


@pytest.mark.parametrize("tool", ["kustomize", "helm"])
def test_the_lease_role_is_limited_to_the_configured_lease(tool: str) -> None:
    rendered = _render(tool, "ha")
    settings = load_yaml(DEPLOY / "base" / "crashloop.yaml")["leader_election"]
    defaults = LeaderElection()
    assert (settings["namespace"], settings["lease_name"]) == (defaults.namespace, defaults.lease_name)
    role = one(rendered, "Role", "crashloop-bot-leader-election")
    assert role["metadata"]["namespace"] == settings["namespace"]
    binding = one(rendered, "RoleBinding", "crashloop-bot-leader-election")
    assert binding["metadata"]["namespace"] == settings["namespace"]
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": role["metadata"]["name"],
    }
    for rule in role["rules"]:
        if set(rule["verbs"]) == {"create"}:
            assert "resourceNames" not in rule  # create cannot be restricted by name: the authorizer lacks it
        else:
            assert rule["resourceNames"] == [settings["lease_name"]], rule


def test_single_replica_on_sqlite_never_elects(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why `single` has no Lease role: in a cluster with SQLite the process is its own leader."""
    from bot.kube.leader import should_elect

    monkeypatch.setitem(os.environ, "KUBERNETES_SERVICE_HOST", "10.0.0.1")
    assert should_elect(LeaderElection(), "sqlite+aiosqlite:////data/crashloop.db") is False
    assert should_elect(LeaderElection(), "postgresql+asyncpg://crashloop@db:5432/crashloop") is True


@pytest.mark.parametrize("shape", OVERLAYS)
def test_the_chart_and_kustomize_grant_the_same_rules_to_the_same_subjects(shape: str) -> None:
    """Two ways of installing, one RBAC: role by role, binding by binding."""
    kustomize, helm_chart = overlay(shape), chart(shape)

    def roles(objects: tuple[KubeObject, ...]) -> dict[tuple[str, str, str], set[tuple[Triple, tuple[str, ...]]]]:
        return {
            (r["kind"], r["metadata"]["name"], r["metadata"].get("namespace", "")): {
                (t, tuple(rule.get("resourceNames", []))) for rule in r.get("rules") or [] for t in _triples([rule])
            }
            for r in find(objects, "ClusterRole") + find(objects, "Role")
        }

    def bindings(objects: tuple[KubeObject, ...]) -> set[tuple[str, str, str, str, str]]:
        return {
            (b["kind"], b["metadata"]["name"], b["metadata"].get("namespace", ""), b["roleRef"]["kind"], str(s))
            for b in _bindings(objects)
            for s in b["subjects"]
        }

    assert roles(helm_chart) == roles(kustomize)
    assert bindings(helm_chart) == bindings(kustomize)


def test_all_rbac_lives_in_deploy_rbac() -> None:
    """bot/guard/executor.py's 403 message sends operators to deploy/rbac: no role or binding hides elsewhere
    (the chart's templates excepted: the test above holds them equal to deploy/rbac)."""
    kinds = ("kind: ClusterRole\n", "kind: Role\n", "kind: RoleBinding\n", "kind: ClusterRoleBinding\n")
    for path in DEPLOY.rglob("*.yaml"):
        if path.is_relative_to(DEPLOY / "rbac") or path.is_relative_to(CHART):
            continue
        text = path.read_text(encoding="utf-8")
        assert not any(k in text for k in kinds), f"RBAC outside deploy/rbac: {path}"


# --- Secrets: only in the environments' namespaces ---------------------------------------------------------------


def test_secrets_are_read_only_in_the_configured_namespaces(rendered: tuple[KubeObject, ...]) -> None:
    """One Role + RoleBinding per namespace of crashloop.yaml's environments, and nowhere else."""
    configured = _configured_namespaces()
    roles = find(rendered, "Role", "crashloop-bot-secret-refs")
    assert {r["metadata"]["namespace"] for r in roles} == configured
    assert len(roles) == len(configured)
    for role in roles:
        assert role["rules"] == [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]
    bindings = [b for b in _bindings(rendered) if b["roleRef"]["name"] == "crashloop-bot-secret-refs"]
    assert {b["metadata"]["namespace"] for b in bindings} == configured
    assert len(bindings) == len(configured)
    for binding in bindings:
        assert binding["kind"] == "RoleBinding"
        assert binding["roleRef"]["kind"] == "Role", "bound to the Role of its own namespace"


def test_no_cluster_wide_secrets_grant(rendered: tuple[KubeObject, ...]) -> None:
    for role in find(rendered, "ClusterRole"):
        resources = {r for rule in role.get("rules") or [] for r in rule.get("resources", [])}
        assert "secrets" not in resources, f"ClusterRole {role['metadata']['name']} grants secrets"
    for binding in _bindings(rendered):
        rules = _rules_of(rendered, binding["roleRef"]["name"])
        if any("secrets" in rule.get("resources", []) for rule in rules):
            assert binding["kind"] == "RoleBinding", f"{binding['metadata']['name']}: secrets granted cluster-wide"


def _chart_with(*args: str) -> tuple[KubeObject, ...]:
    out = run([helm(), "template", "crashloop-bot", str(CHART), "-n", NAMESPACE, *args]).stdout
    return tuple(doc for doc in yaml.safe_load_all(out) if doc)


def test_the_chart_generates_the_secret_roles_from_the_embedded_config() -> None:
    """A namespace added to any environment of the `config` value gets its Role; a repeated one gets one only."""
    staging = '{"namespaces": ["stage", "shop"], "channel": "C0STAGING1", "cluster_label": "stg"}'
    objects = _chart_with(
        *("--set-json", f"config.environments.staging={staging}"),
        *("--set", "config.environments.cluster.cluster_label=prod"),
    )
    for kind in ("Role", "RoleBinding"):
        found = find(objects, kind, "crashloop-bot-secret-refs")
        assert sorted(o["metadata"]["namespace"] for o in found) == ["payments", "shop", "stage"], kind


def test_with_check_secrets_off_nothing_grants_secrets() -> None:
    objects = _chart_with("--set", "config.triage.check_secrets=false")
    assert not find(objects, "Role", "crashloop-bot-secret-refs")
    assert not find(objects, "RoleBinding", "crashloop-bot-secret-refs")
    assert not any(
        "secrets" in rule.get("resources", [])
        for role in find(objects, "ClusterRole") + find(objects, "Role")
        for rule in role.get("rules") or []
    )
    config = yaml.safe_load(one(objects, "ConfigMap")["data"]["crashloop.yaml"])
    assert config["triage"]["check_secrets"] is False, "the bot is told too, so it never calls `get secrets`"
