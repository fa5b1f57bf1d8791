"""The `crashloop` CLI behaves like the tools SREs use: --version, -h with examples, global options after the
subcommand, -o text|json|yaml|wide (--format kept), colour only on a terminal, completion, errors that say what to
type, an unreachable cluster named as such (exit 1), and a triage that loads none of the heavy stacks.

Driven through click's runner, or as a real process where the terminal or the set of imported modules matters,
against the simulated cluster through the bot's own Kubernetes client (bot/kube).
"""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from bot.cli.main import cli
from tests.integration.conftest import write_config

REPO = Path(__file__).resolve().parents[2]
CRASHLOOP = [sys.executable, "-m", "bot.cli.main"]
ANSI = "\x1b["


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def run_process(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CRASHLOOP, *args], cwd=REPO, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})}
    )


@pytest.fixture
def dead_kubeconfig(tmp_path: Path) -> Path:
    """A kubeconfig whose API server is a loopback port nobody listens on."""
    path = tmp_path / "dead.kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"token": "t"}}],
                "contexts": [{"name": "sim", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "sim",
            }
        )
    )
    return path


# --- the shape of the command ---------------------------------------------------------------------------------


def test_version() -> None:
    result = run("--version")
    assert result.exit_code == 0
    assert result.output.strip() == "crashloop 0.1.0"


@pytest.mark.parametrize("args", [["-h"], ["--help"], ["triage", "-h"], ["config", "check", "-h"], ["audit", "-h"]])
def test_short_and_long_help_with_examples(args: list[str]) -> None:
    result = run(*args)
    assert result.exit_code == 0, result.output
    assert "Usage: crashloop" in result.output
    assert "Examples:" in result.output


def test_global_options_after_the_subcommand(config_file: Path) -> None:
    result = run("triage", "prod", "ledger-api", "--config", str(config_file), "-o", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["branch"] == "resources"
    result = run("triage", "prod", "ledger-api", f"--config={config_file}", "--format", "json")
    assert json.loads(result.output)["workload"] == "ledger-api"


def test_output_formats(config_file: Path) -> None:
    as_json = json.loads(run("--config", str(config_file), "triage", "prod", "search", "-o", "json").output)
    as_yaml = yaml.safe_load(run("--config", str(config_file), "triage", "prod", "search", "--output", "yaml").output)
    assert {k: v for k, v in as_yaml.items() if k not in ("seconds", "collected_at")} == {
        k: v for k, v in as_json.items() if k not in ("seconds", "collected_at")
    }
    text = run("--config", str(config_file), "triage", "prod", "search", "-o", "text").output
    wide = run("--config", str(config_file), "triage", "prod", "search", "-o", "wide").output
    assert "PODS" not in text
    assert "PODS" in wide
    assert "RESTARTS" in wide
    pods_section = wide[wide.index("PODS") :].splitlines()[2:]
    assert len(pods_section) == len(as_json["pods"])
    assert all(line.strip().startswith("search-") for line in pods_section)
    assert run("--config", str(config_file), "triage", "prod", "search", "-o", "xml").exit_code == 2


def _on_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """The command's stdout when it is a terminal (a pseudo-terminal), as a person sees it."""
    leader, follower = pty.openpty()
    with subprocess.Popen(
        [*CRASHLOOP, *args], cwd=REPO, stdout=follower, stderr=subprocess.DEVNULL, env={**os.environ, **env}
    ) as process:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process exited
                break
            if not chunk:
                break
            chunks.append(chunk)
        process.wait(timeout=120)
    os.close(leader)
    return b"".join(chunks).decode("utf-8", errors="replace")


def test_colour_only_on_a_terminal_and_never_with_no_color(config_file: Path) -> None:
    args = ["--config", str(config_file), "triage", "prod", "ledger-api"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_a_terminal(args, {**env, "NO_COLOR": ""})
    assert ANSI in coloured
    for plain in (_on_a_terminal(args, {"NO_COLOR": "1"}), _on_a_terminal([*args, "--no-color"], {"NO_COLOR": ""})):
        assert "CRASHING" in plain  # the command ran (a rejected option would print no report)
        assert ANSI not in plain
    piped = run_process(*args, env={"NO_COLOR": ""})
    assert "CRASHING" in piped.stdout
    assert ANSI not in piped.stdout


def test_shell_completion_script_and_environment_names(config_file: Path) -> None:
    script = run("completion", "bash")
    assert script.exit_code == 0
    assert "_CRASHLOOP_COMPLETE=bash_complete" in script.output
    completed = subprocess.run(
        [sys.executable, "-c", "from bot.cli.main import main; main()"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            **os.environ,
            "_CRASHLOOP_COMPLETE": "bash_complete",
            "COMP_WORDS": f"crashloop --config {config_file} triage pr",
            "COMP_CWORD": "4",
            "CRASHLOOP_CONFIG": str(config_file),
        },
    )
    assert "plain,prod" in completed.stdout.splitlines()


# --- errors that say what happened and what to type ---------------------------------------------------------------


def test_an_unreachable_cluster_is_named_exit_1(tmp_path: Path, dead_kubeconfig: Path) -> None:
    config = write_config(tmp_path / "c.yaml", dead_kubeconfig)
    result = run("--config", str(config), "triage", "prod", "checkout")
    assert result.exit_code == 1, result.output
    assert "cannot reach the API server at http://127.0.0.1:9 (connection refused)" in result.output
    assert "no Deployment" not in result.output
    assert "timeout" not in result.output


def test_config_check_verifies_contexts_and_api_servers(
    tmp_path: Path, config_file: Path, kubeconfig: Path, dead_kubeconfig: Path
) -> None:
    good = run("--config", str(config_file), "config", "check")
    assert good.exit_code == 0, good.output
    assert "answers (v1." in good.output

    dead = run("--config", str(write_config(tmp_path / "dead.yaml", dead_kubeconfig)), "config", "check")
    assert dead.exit_code == 1
    assert "cannot reach the API server at http://127.0.0.1:9 (connection refused)" in dead.output
    offline = run("--config", str(tmp_path / "dead.yaml"), "config", "check", "--offline")
    assert offline.exit_code == 0, offline.output

    typo = yaml.safe_load(config_file.read_text())
    typo["environments"]["prod"]["context"] = "smi"
    (tmp_path / "typo.yaml").write_text(yaml.safe_dump(typo))
    missing = run("--config", str(tmp_path / "typo.yaml"), "config", "check", "--offline")
    assert missing.exit_code == 2
    assert f"context 'smi' is not in {kubeconfig} (contexts there: sim)" in missing.output


def test_unknown_environment_lists_the_configured_ones(config_file: Path) -> None:
    result = run("--config", str(config_file), "triage", "staging", "checkout")
    assert result.exit_code == 2
    assert "unknown environment 'staging'; configured: prod" in result.output


def test_demo_with_an_unknown_scenario_says_which_exist() -> None:
    result = run_process("demo", "--scenario", "nope")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "unknown scenario 'nope'; choose from:" in result.stderr
    assert "ledger-api" in result.stderr


# --- speed: what a read-only triage loads ------------------------------------------------------------------------

HEAVY = (
    "kubernetes",  # bot/kube reads kubeconfigs and calls the API itself; the package only for legacy auth-providers
    "bot.kube.fallback",
    "urllib3",
    "requests",
    "apscheduler",
    "pydantic_settings",
    "slack_sdk",
    "slack_bolt",
    "sqlalchemy",
    "alembic",
    "matplotlib",
    "aiohttp",
    "bot.store",
    "bot.slack",
    "bot.reports",
    "bot.guard",
    "bot.app",
    "bot.cli.db_roles",  # `db grant-roles` is imported when it runs (it brings the SQL stack's entry points)
    "bot.remedies.patches",  # the patch planner: a triage shows a remedy's kubectl lines from its spec, builds no patch
    "bot.alertmanager",  # silences: a triage neither proposes nor shows one
)
PROBE = """
import sys
from bot.cli.main import cli
try:
    cli(sys.argv[1:], standalone_mode=False)
finally:
    heavy = {heavy!r}
    loaded = sorted({{h for h in heavy for m in list(sys.modules) if m == h or m.startswith(h + ".")}})
    print("LOADED", ",".join(loaded), file=sys.stderr)
    print("TRIAGE", "bot.triage.run" in sys.modules, file=sys.stderr)
    plugins = sys.modules.get("pydantic.plugin._loader")
    print("PLUGIN_SCAN", plugins is not None and plugins._plugins is not None, file=sys.stderr)
"""


def _probe(*args: str) -> dict[str, str]:
    # Not inherited from an in-process triage of an earlier test: the command must set it itself.
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    marks = ("LOADED", "TRIAGE", "PLUGIN_SCAN")
    found = (line.split(" ", 1) for line in result.stderr.splitlines() if line.startswith(marks))
    return {k: v.strip() for k, v in found}


def _loaded(*args: str) -> tuple[set[str], bool]:
    lines = _probe(*args)
    return set(filter(None, lines["LOADED"].split(","))), lines["TRIAGE"] == "True"


def test_a_read_only_triage_loads_no_slack_sql_report_or_chart_stack(config_file: Path) -> None:
    loaded, triaged = _loaded("--config", str(config_file), "triage", "prod", "ledger-api", "-o", "json")
    assert triaged, "the probe ran a triage"
    assert loaded == set()


def test_a_triage_does_not_scan_installed_distributions_for_pydantic_plugins(config_file: Path) -> None:
    """The bot uses no pydantic plugins; the scan would run when bot.core.config builds its first model."""
    lines = _probe("--config", str(config_file), "triage", "prod", "ledger-api")
    assert lines["TRIAGE"] == "True"
    assert lines["PLUGIN_SCAN"] == "False"
    # …and the probe sees a scan when one happens: `config check` loads the same models without the setting.
    lines = _probe("--config", str(config_file), "config", "check", "--offline")
    assert lines["PLUGIN_SCAN"] == "True"


def test_help_loads_neither_the_heavy_stacks_nor_triage() -> None:
    loaded, triaged = _loaded("--help")
    assert loaded == set()
    assert not triaged
    # …and the probe sees them when they are loaded (guards the guard): `serve --help` loads the command only.
    loaded, _ = _loaded("act", "--help")
    assert "bot.guard" in loaded
    loaded, _ = _loaded("db", "grant-roles", "--help")
    assert "bot.cli.db_roles" in loaded


def test_a_triage_shown_as_text_loads_no_heavy_stack_either(config_file: Path) -> None:
    """The text view (the default) renders through other modules than `-o json`; they stay as light."""
    loaded, triaged = _loaded("--config", str(config_file), "triage", "prod", "ledger-api")
    assert triaged
    assert loaded == set()


def test_a_context_with_a_legacy_auth_provider_is_the_one_that_loads_kubernetes(tmp_path: Path) -> None:
    """Guards the guard for `kubernetes`: the probe sees the package when the fallback loader does use it."""
    kubeconfig = tmp_path / "kubeconfig"
    user = {"auth-provider": {"name": "oidc", "config": {"client-id": "k8s", "id-token": "a.b.c"}}}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": user}],
                "contexts": [{"name": "sim", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "sim",
            }
        )
    )
    loaded, _ = _loaded("--config", str(write_config(tmp_path / "c.yaml", kubeconfig)), "triage", "prod", "x")
    assert {"kubernetes", "bot.kube.fallback"} <= loaded


def test_a_failing_exec_plugin_is_named_exit_1(tmp_path: Path) -> None:
    plugin = tmp_path / "get-token"
    plugin.write_text(
        f"#!{sys.executable}\nimport sys\nsys.stderr.write('token expired: log in again\\n')\nsys.exit(1)\n"
    )
    plugin.chmod(0o755)
    kubeconfig = tmp_path / "kubeconfig"
    exec_ = {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin), "interactiveMode": "Never"}
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "clusters": [{"name": "c", "cluster": {"server": "http://127.0.0.1:9"}}],
                "users": [{"name": "u", "user": {"exec": exec_}}],
                "contexts": [{"name": "sim", "context": {"cluster": "c", "user": "u"}}],
            }
        )
    )
    result = run("--config", str(write_config(tmp_path / "c.yaml", kubeconfig)), "triage", "prod", "ledger-api")
    assert result.exit_code == 1, result.output
    assert f"exec plugin `{plugin}` exited with code 1: token expired: log in again" in result.output


SERVE_PROBE = """
import sys
import bot.app, bot.cli.serving
absent = ("matplotlib", "kubernetes", "urllib3", "bot.reports.chart", "bot.kube.fallback")
print("LOADED", ",".join(sorted({a for a in absent for m in list(sys.modules) if m == a or m.startswith(a + ".")})))
print("APP", "aiohttp" in sys.modules and "bot.reports.service" in sys.modules)
"""


def test_serve_loads_no_chart_stack_nor_kubernetes_package_at_start() -> None:
    """Issue 13: matplotlib (≈ 40 MB resident) waits for the first chart; the kubernetes package for a legacy
    auth-provider. The probe imports what `crashloop serve` imports before it listens."""
    result = subprocess.run([sys.executable, "-c", SERVE_PROBE], cwd=REPO, capture_output=True, text=True, timeout=120)
    lines = dict(line.split(" ", 1) for line in result.stdout.splitlines() if line.startswith(("LOADED", "APP")))
    assert lines["APP"].strip() == "True", "the probe loaded the app and the report service"
    assert lines["LOADED"].strip() == ""
