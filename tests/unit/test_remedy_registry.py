"""Every remedy id has one complete spec: title, parameters, checks, form, patch builder, kubectl, success."""

from __future__ import annotations

import pytest

from bot.remedies import validation
from bot.remedies.registry import (
    ALERTMANAGER_ACTIONS,
    NETCHECK,
    PATCH_REMEDIES,
    AlertmanagerAction,
    NetcheckRemedy,
    PatchRemedy,
    kubectl_command,
    spec_of,
)
from runbooks.model import Remedy, RemedyId, Workload

SAMPLE = {  # every parameter any remedy takes, with a value a runbook would propose
    "container": "app",
    "to": "384Mi",
    "probes": {"startup": {"failureThreshold": 30, "periodSeconds": 10}},
    "name": "DATABASE_URL",
    "secret": {"name": "db", "key": "url"},
    "image": "registry.example.com/shop/app:1.2.3",
    "to_revision": 3,
    "service_account": "app",
    "host": "orders-db",
    "port": 5432,
    "duration": "2h",
    "comment": "deploy freeze",
    "silence_id": "0b0c5b1e-5d0a-4a55-9a43-3c4e8d1f2a77",
}


@pytest.mark.parametrize("remedy", list(RemedyId), ids=str)
def test_every_remedy_id_has_a_complete_spec(remedy: RemedyId) -> None:
    spec = spec_of(remedy)
    assert spec.id is remedy
    assert spec.title.strip()
    assert spec.success.strip()
    assert spec.checks, f"{remedy}: no parameter checks"
    names = [p.name for p in spec.params]
    assert len(names) == len(set(names)), f"{remedy}: a parameter is listed twice"
    assert all(p.label.strip() for p in spec.params)
    assert set(spec.form) <= set(spec.params)
    assert all(name in SAMPLE or name in ("value", "configmap", "request_to") for name in names)
    workload = Workload(kind="Deployment", namespace="shop", name="app")
    assert kubectl_command(workload, Remedy(remedy, spec.title, SAMPLE)), f"{remedy}: no kubectl equivalent"
    spec.validate(SAMPLE, validation.Limits("4Gi", "256Mi", frozenset({"app"})))  # a proposal passes its checks
    if remedy is RemedyId.NETCHECK:
        assert isinstance(spec, NetcheckRemedy)
        assert spec is NETCHECK
    elif remedy in (RemedyId.SILENCE, RemedyId.UNSILENCE):
        assert isinstance(spec, AlertmanagerAction)
        assert ALERTMANAGER_ACTIONS[remedy] is spec
    else:
        assert isinstance(spec, PatchRemedy)
        assert PATCH_REMEDIES[remedy] is spec


def test_a_patch_remedy_builds_its_patch() -> None:
    workload = {
        "kind": "Deployment",
        "metadata": {"name": "app", "namespace": "shop"},
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "256Mi"}}}]}}},
    }
    plan = PATCH_REMEDIES[RemedyId.BUMP_MEMORY].build_patch({"container": "app", "to": "384Mi"}, workload, [])
    assert plan.summary == "app: memory limit 256Mi → 384Mi"
    assert plan.body == {
        "spec": {"template": {"spec": {"containers": [{"name": "app", "resources": {"limits": {"memory": "384Mi"}}}]}}}
    }


def test_unknown_remedy_has_no_spec() -> None:
    with pytest.raises(ValueError, match="reboot_the_cluster"):
        spec_of("reboot_the_cluster")
