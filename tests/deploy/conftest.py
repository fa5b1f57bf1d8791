"""Fixtures of the deploy/ tests: one parametrisation over the kustomize overlays."""

from __future__ import annotations

import pytest

from tests.deploy.deploytools import OVERLAYS, KubeObject, overlay


@pytest.fixture(params=OVERLAYS)
def overlay_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def rendered(overlay_name: str) -> tuple[KubeObject, ...]:
    """The overlay's objects, as `kubectl kustomize` renders them."""
    return overlay(overlay_name)
