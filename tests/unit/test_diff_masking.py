"""Pod-template diffs mask secret args/command items before the diff is computed, and still say an env value
changed (`bot.guard.executor.masked_template` feeding `template_diff`)."""

from __future__ import annotations

from typing import Any

from bot.guard.executor import masked_template
from bot.remedies.patches import template_diff


def _template(*, args: list[str], env_value: str, image: str) -> dict[str, Any]:
    container = {
        "name": "app",
        "image": image,
        "command": ["/bin/app", "--token=ghp_abcdefghijklmnopqrstuvwxyz0123456789"],
        "args": args,
        "env": [{"name": "DB_PASSWORD", "value": env_value}, {"name": "MODE", "value": "prod"}],
    }
    return {"metadata": {"labels": {"app": "x"}}, "spec": {"containers": [container]}}


def test_secret_args_and_command_items_are_masked_in_the_diff() -> None:
    before = _template(args=["--db-password", "hunter2-very-secret", "--serve"], env_value="a", image="app:1")
    after = _template(args=["--serve"], env_value="a", image="app:2")
    diff = template_diff(masked_template(before), masked_template(after))
    assert "-    - --db-password" in diff  # the flag is shown: the diff still says what went
    assert "hunter2-very-secret" not in diff
    assert "ghp_abcdefghijklmnopqrstuvwxyz0123456789" not in diff
    assert "+    image: app:2" in diff


def test_a_changed_env_value_is_still_marked_changed_and_never_shown() -> None:
    before = _template(args=[], env_value="old-pw-1234", image="app:1")
    after = _template(args=[], env_value="new-pw-5678", image="app:1")
    diff = template_diff(masked_template(before), masked_template(after))
    assert "(changed)" in diff
    assert "old-pw-1234" not in diff
    assert "new-pw-5678" not in diff


def test_masking_leaves_the_template_given_untouched() -> None:
    before = _template(args=["--db-password", "hunter2-very-secret"], env_value="a", image="app:1")
    masked_template(before)
    assert before["spec"]["containers"][0]["args"][1] == "hunter2-very-secret"
