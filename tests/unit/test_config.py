"""crashloop.yaml validation: the public keys load, and every mistake is named with its key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.core.config import ConfigError, load_config

GOOD = """
environments:
  prod:
    context: prod-eu-1
    namespaces: [shop, payments]
    channel: C0INCIDENTS
    cluster_label: prod-eu-1
    require_approval: true
access:
  responders: [U0ONCALL1, S0SRE0001]
  viewers: [U0VIEWER1]
limits:
  max_memory: 4Gi
  read_only: false
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "crashloop.yaml"
    path.write_text(text)
    return path


def test_the_documented_example_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    prod = config.environment("prod")
    assert prod.namespaces == ["shop", "payments"]
    assert prod.require_approval is True
    assert config.access.responders == ["U0ONCALL1", "S0SRE0001"]
    assert config.policy().max_memory_bytes == 4 * 2**30


def test_the_shipped_example_file_loads() -> None:
    config = load_config(Path(__file__).parents[2] / "crashloop.example.yaml")
    assert "prod" in config.environments


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("require_approval: true", "require_aproval: true"), "environments.prod.require_aproval: unknown key"),
        (("max_memory: 4Gi", "max_memory: lots"), "limits.max_memory: not a Kubernetes quantity"),
        (("channel: C0INCIDENTS", "channel: '#incidents'"), "is not a Slack channel id"),
        (("viewers: [U0VIEWER1]", "viewers: [bob]"), "not Slack user/user-group ids"),
        (("namespaces: [shop, payments]", "namespaces: []"), "environments.prod.namespaces"),
        (("namespaces: [shop, payments]", "namespaces: [Shop_1]"), "not valid namespace names: Shop_1"),
        (("  prod:\n", "  Prod Env:\n"), "environment names must be lowercase"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    text = GOOD.replace(*change)
    assert text != GOOD
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert message in str(err.value)
    assert str(tmp_path / "crashloop.yaml") in str(err.value)


def test_missing_file_says_how_to_point_at_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CRASHLOOP_CONFIG"):
        load_config(tmp_path / "nope.yaml")


def test_not_a_mapping(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_duplicate_cluster_labels_cannot_route(tmp_path: Path) -> None:
    text = GOOD.replace("access:", "  staging:\n    namespaces: [shop]\n    cluster_label: prod-eu-1\naccess:", 1)
    with pytest.raises(ConfigError, match="share a cluster_label"):
        load_config(write(tmp_path, text))


def test_unknown_environment_lists_the_configured_ones(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError, match="unknown environment 'staging'; configured: prod"):
        config.environment("staging")
