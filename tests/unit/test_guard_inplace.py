"""`in_place`: whether the patch that was sent is in the live workload (a lost PATCH answer is settled by it)."""

from __future__ import annotations

from typing import Any

from bot.guard.inplace import in_place
from bot.remedies.patches import PatchPlan


def workload(image: str, env: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    container = {"name": "app", "image": image, "imagePullPolicy": "IfNotPresent", "env": env or []}
    return {
        "metadata": {"annotations": {"deployment.kubernetes.io/revision": "5"}},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [container]}}},
    }


def image_patch(image: str) -> PatchPlan:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}}
    return PatchPlan("strategic", body, "image")


def test_a_strategic_patch_is_in_place_despite_server_defaults() -> None:
    assert in_place(image_patch("web:2"), workload("web:2"))
    assert not in_place(image_patch("web:2"), workload("web:1"))


def test_a_container_is_matched_by_name() -> None:
    body = {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "web:2"}]}}}}
    assert not in_place(PatchPlan("strategic", body, "x"), workload("web:2"))


def test_a_removed_key_must_be_gone() -> None:
    entry = {"name": "DB", "value": "x", "valueFrom": None}
    body = {"spec": {"template": {"spec": {"containers": [{"name": "app", "env": [entry]}]}}}}
    plan = PatchPlan("strategic", body, "env")
    assert in_place(plan, workload("web:1", [{"name": "DB", "value": "x"}]))
    assert not in_place(plan, workload("web:1", [{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "s"}}}]))


def test_a_json_patch_compares_the_template_not_metadata_a_controller_rewrites() -> None:
    template = workload("web:2")["spec"]["template"]
    ops = [
        {"op": "replace", "path": "/spec/template", "value": template},
        {"op": "replace", "path": "/metadata/annotations", "value": {"deployment.kubernetes.io/revision": "3"}},
    ]
    assert in_place(PatchPlan("json", ops, "undo"), workload("web:2"))
    assert not in_place(PatchPlan("json", ops, "undo"), workload("web:1"))
    assert not in_place(PatchPlan("json", [{"op": "remove", "path": "/spec/template"}], "x"), workload("web:1"))
