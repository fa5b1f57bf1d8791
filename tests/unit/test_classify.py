"""Evidence → Finding: one row per signal of each runbook branch, and the parameters of every remedy.

The expected values come from the runbook and the product issue, not from the code's constants: a branch is
named by its public id, remedies by their public ids, and every reason must quote the evidence line it matched.
"""

from __future__ import annotations

from typing import Any

import pytest
from builders import (
    CONTAINER,
    CURRENT_RS,
    IMAGE,
    NS,
    OLD_IMAGE,
    POD,
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
    running,
    spec,
    term,
    waiting,
)

from runbooks.classify import classify
from runbooks.model import Evidence, Finding, ObjectRef, Policy, ReadFailure

MI = 2**20
GI = 2**30


def assert_quoted(finding: Finding, text: str, source: str | None = None) -> None:
    """Some reason quotes `text` (and names `source` as where the quote came from)."""
    hits = [r for r in finding.reasons if r.quote and text in r.quote]
    assert hits, f"no reason quotes {text!r}; quotes: {quotes(finding)}"
    if source is not None:
        assert any(r.source == source for r in hits), f"{text!r} quoted from {[r.source for r in hits]}, not {source}"


# --- evidence fixtures: what the kubelet, the apiserver and real apps write ------------------------------------

PY_KEYERROR = (
    "Traceback (most recent call last):",
    '  File "/app/main.py", line 4, in <module>',
    "    DB_URL = os.environ['DATABASE_URL']",
    '  File "<frozen os>", line 679, in __getitem__',
    "KeyError: 'DATABASE_URL'",
)
PY_TRACEBACK = (
    "INFO:app:loading pricing rules",
    "Traceback (most recent call last):",
    '  File "/app/pricing.py", line 12, in load',
    "    ratio = total / count",
    "ZeroDivisionError: division by zero",
)
GO_PANIC = (
    "panic: runtime error: invalid memory address or nil pointer dereference",
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x6f5a3c]",
    "",
    "goroutine 1 [running]:",
    "main.(*Server).Start(0x0)",
    "\t/src/server.go:88 +0x1c",
)
JAVA_EXCEPTION = (
    'Exception in thread "main" java.lang.IllegalStateException: pricing rules are empty',
    "\tat com.example.shop.Pricing.load(Pricing.java:42)",
    "\tat com.example.shop.Main.main(Main.java:17)",
)
FORBIDDEN = (
    "E0501 11:58:02.123456       1 reflector.go:138] failed to list *v1.ConfigMap: configmaps is forbidden: User "
    '"system:serviceaccount:shop:default" cannot list resource "configmaps" in API group "" in the namespace "shop"'
)

OOMKILLED = term("OOMKilled", 137)
LIVENESS_TIMEOUT = (
    'Liveness probe failed: Get "http://10.244.1.17:8080/healthz": context deadline exceeded '
    "(Client.Timeout exceeded while awaiting headers)"
)


def oom(**kw: Any) -> Evidence:
    return evidence(status=crashing(last=OOMKILLED), **kw)


# --- one row per signal of each branch module ----------------------------------------------------------------

SIGNAL_ROWS = [
    # 1. App & env
    pytest.param(evidence(log_lines=PY_KEYERROR), "app_env", "KeyError: 'DATABASE_URL'", "logs", id="app-missing-env"),
    pytest.param(
        evidence(log_lines=PY_TRACEBACK), "app_env", "ZeroDivisionError: division by zero", "logs", id="app-traceback"
    ),
    pytest.param(
        evidence(log_lines=GO_PANIC),
        "app_env",
        "panic: runtime error: invalid memory address",
        "logs",
        id="app-go-panic",
    ),
    pytest.param(
        evidence(log_lines=JAVA_EXCEPTION), "app_env", 'Exception in thread "main"', "logs", id="app-java-exception"
    ),
    pytest.param(
        evidence(log_lines=("Uncaught SyntaxError: Unexpected token '}' in JSON at position 42",)),
        "app_env",
        "Uncaught SyntaxError",
        "logs",
        id="app-node-uncaught",
    ),
    pytest.param(
        evidence(log_lines=("level=info msg=starting", "FATAL: config file /etc/web/config.yaml has no 'listen' key")),
        "app_env",
        "FATAL: config file /etc/web/config.yaml",
        "logs",
        id="app-fatal",
    ),
    pytest.param(
        evidence(status=crashing(last=term("Error", 1))),
        "app_env",
        "exitCode=1",
        "status",
        id="app-exit-1-unexplained",
    ),
    pytest.param(
        evidence(status=crashing(last=term("Completed", 0))),
        "app_env",
        "exitCode=0",
        "status",
        id="app-exit-0-under-restart-always",
    ),
    # 2. Resources
    pytest.param(oom(), "resources", "reason=OOMKilled", "status", id="resources-oomkilled"),
    pytest.param(
        evidence(
            status=crashing(last=term("Error", 137)),
            events=[
                event(
                    "OOMKilling",
                    "Memory cgroup out of memory: Killed process 4242 (java) total-vm:2345678kB",
                    kind="Node",
                    name="node-a",
                )
            ],
        ),
        "resources",
        "Memory cgroup out of memory: Killed process 4242",
        "events",
        id="resources-oom-event",
    ),
    pytest.param(
        evidence(log_lines=('Exception in thread "main" java.lang.OutOfMemoryError: Java heap space',)),
        "resources",
        "java.lang.OutOfMemoryError: Java heap space",
        "logs",
        id="resources-java-heap",
    ),
    pytest.param(
        evidence(
            log_lines=(
                "<--- Last few GCs --->",
                "FATAL ERROR: Reached heap limit Allocation failed - JavaScript heap out of memory",
            )
        ),
        "resources",
        "JavaScript heap out of memory",
        "logs",
        id="resources-node-heap",
    ),
    pytest.param(
        evidence(status=crashing(last=term("Error", 137))),
        "resources",
        "exitCode=137",
        "status",
        id="resources-exit-137-no-probe-kill",
    ),
    # 3. Probes
    pytest.param(
        evidence(
            status=crashing(last=term("Error", 137)),
            events=[liveness_kill(), event("Unhealthy", LIVENESS_TIMEOUT, count=12)],
            specs=[spec(probes=[probe("liveness")])],
        ),
        "probes",
        "failed liveness probe, will be restarted",
        "events",
        id="probes-liveness-kill",
    ),
    pytest.param(
        evidence(
            status=crashing(last=term("Error", 143)),
            events=[event("Killing", "Container app failed startup probe, will be restarted", type="Normal")],
            specs=[spec(probes=[probe("liveness"), probe("startup", failures=10)])],
        ),
        "probes",
        "failed startup probe",
        "events",
        id="probes-startup-kill",
    ),
    pytest.param(
        evidence(
            status=crashing(last=term("Error", 143)),
            events=[event("Unhealthy", LIVENESS_TIMEOUT, count=9)],
            specs=[spec(probes=[probe("liveness")])],
        ),
        "probes",
        "context deadline exceeded",
        "events",
        id="probes-unhealthy-liveness",
    ),
    pytest.param(
        evidence(
            status=crashing(last=term("Error", 143)),
            events=[event("Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 503", count=30)],
            specs=[spec(probes=[probe("readiness", http=(8080, "/ready"))])],
        ),
        "probes",
        "Readiness probe failed: HTTP probe failed with statuscode: 503",
        "events",
        id="probes-unhealthy-readiness",
    ),
    # 4. RBAC & mounts
    pytest.param(
        evidence(log_lines=("starting informers", FORBIDDEN)),
        "rbac_mounts",
        'cannot list resource "configmaps"',
        "logs",
        id="rbac-forbidden-service-account",
    ),
    pytest.param(
        evidence(log_lines=("GET https://vault.shop.svc:8200/v1/secret/data/web -> 403 Forbidden",)),
        "rbac_mounts",
        "-> 403 Forbidden",
        "logs",
        id="rbac-forbidden-generic",
    ),
    pytest.param(
        evidence(
            events=[
                event(
                    "FailedMount",
                    'MountVolume.SetUp failed for volume "data" : mount failed: exit status 32',
                    count=7,
                )
            ]
        ),
        "rbac_mounts",
        'MountVolume.SetUp failed for volume "data"',
        "events",
        id="rbac-failed-mount",
    ),
    pytest.param(
        evidence(
            events=[
                event(
                    "FailedAttachVolume",
                    'AttachVolume.Attach failed for volume "pvc-0f3c" : rpc error: volume is attached to node-b',
                    count=3,
                )
            ]
        ),
        "rbac_mounts",
        "AttachVolume.Attach failed",
        "events",
        id="rbac-failed-attach",
    ),
    pytest.param(
        evidence(service_account="web-sa", service_account_exists=False),
        "rbac_mounts",
        "web-sa",
        "spec",
        id="rbac-missing-service-account",
    ),
    pytest.param(
        evidence(log_lines=("PermissionError: [Errno 13] Permission denied: '/data/cache/index.db'",)),
        "rbac_mounts",
        "Permission denied: '/data/cache/index.db'",
        "logs",
        id="rbac-permission-denied",
    ),
    pytest.param(
        evidence(log_lines=("open /var/lib/web/state.json: read-only file system",)),
        "rbac_mounts",
        "/var/lib/web/state.json: read-only file system",
        "logs",
        id="rbac-read-only-fs",
    ),
    # 5. Image & config
    pytest.param(
        evidence(
            status=waiting(
                "ImagePullBackOff",
                'Back-off pulling image "registry.example.com/shop/web:1.5.0"',
            )
        ),
        "image_config",
        'Back-off pulling image "registry.example.com/shop/web:1.5.0"',
        "status",
        id="image-pull-backoff",
    ),
    pytest.param(
        evidence(
            status=waiting(
                "ErrImagePull",
                'rpc error: code = NotFound desc = failed to pull and unpack image "registry.example.com/shop/'
                'web:1.5.0": not found',
            )
        ),
        "image_config",
        "failed to pull and unpack image",
        "status",
        id="image-err-image-pull",
    ),
    pytest.param(
        evidence(
            status=crashing(
                last=term(
                    "StartError",
                    128,
                    message="failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                    'runc create failed: unable to start container process: exec: "/app/server": stat /app/server: '
                    "no such file or directory: unknown",
                )
            )
        ),
        "image_config",
        "reason=StartError exitCode=128",
        "status",
        id="image-start-error",
    ),
    pytest.param(
        evidence(
            status=crashing(
                last=term(
                    "StartError",
                    128,
                    message="failed to create containerd task: failed to create shim task: OCI runtime create failed: "
                    "runc create failed: unable to start container process: exec /app/server: exec format error",
                )
            )
        ),
        "image_config",
        "exec format error",
        "status",
        id="image-exec-format-error",
    ),
    pytest.param(
        evidence(status=crashing(last=term("Error", 127))),
        "image_config",
        "exitCode=127",
        "status",
        id="image-exit-127",
    ),
    pytest.param(
        evidence(status=crashing(last=term("Error", 126))),
        "image_config",
        "exitCode=126",
        "status",
        id="image-exit-126",
    ),
    pytest.param(
        evidence(status=waiting("CreateContainerConfigError", 'secret "gateway-secrets" not found')),
        "image_config",
        'secret "gateway-secrets" not found',
        "status",
        id="image-config-missing-secret",
    ),
    pytest.param(
        evidence(status=waiting("CreateContainerConfigError", 'configmap "web-config" not found')),
        "image_config",
        'configmap "web-config" not found',
        "status",
        id="image-config-missing-configmap",
    ),
    pytest.param(
        evidence(status=waiting("CreateContainerConfigError", "couldn't find key DB_PASSWORD in Secret shop/db-creds")),
        "image_config",
        "couldn't find key DB_PASSWORD in Secret shop/db-creds",
        "status",
        id="image-config-missing-key",
    ),
    pytest.param(
        evidence(
            specs=[
                spec(
                    refs=[ObjectRef("Secret", "payments-api", "env", "PAYMENTS_API_KEY", "key", exists=False)],
                )
            ]
        ),
        "image_config",
        "Secret payments-api",
        "spec",
        id="image-missing-ref",
    ),
    # 6. Networking & deps
    pytest.param(
        evidence(
            log_lines=(
                'psycopg2.OperationalError: could not translate host name "orders-db" to address: '
                "Name or service not known",
            )
        ),
        "networking_deps",
        'could not translate host name "orders-db"',
        "logs",
        id="net-dns-psycopg2",
    ),
    pytest.param(
        evidence(log_lines=("socket.gaierror: [Errno -3] Temporary failure in name resolution",)),
        "networking_deps",
        "Temporary failure in name resolution",
        "logs",
        id="net-dns-temporary-failure",
    ),
    pytest.param(
        evidence(log_lines=("Error: connect ECONNREFUSED 10.0.0.5:6379",)),
        "networking_deps",
        "ECONNREFUSED 10.0.0.5:6379",
        "logs",
        id="net-connection-refused",
    ),
    pytest.param(
        evidence(log_lines=("failed to connect to kafka: dial tcp 10.96.40.2:9092: i/o timeout",)),
        "networking_deps",
        "dial tcp 10.96.40.2:9092: i/o timeout",
        "logs",
        id="net-io-timeout",
    ),
    pytest.param(
        evidence(log_lines=("dial tcp 10.96.40.7:443: connect: no route to host",)),
        "networking_deps",
        "no route to host",
        "logs",
        id="net-no-route",
    ),
]


@pytest.mark.parametrize(("ev", "branch", "quoted", "source"), SIGNAL_ROWS)
def test_signal_selects_its_branch_and_quotes_the_evidence(ev: Evidence, branch: str, quoted: str, source: str) -> None:
    finding = classify(ev)

    assert finding.branch == branch, f"{finding.branch}: {finding.summary}"
    assert_quoted(finding, quoted, source)
    assert 0.3 <= finding.confidence <= 0.99
    assert finding.summary


# --- healthy, gone, unexplained -------------------------------------------------------------------------------


def test_healthy_workload_has_no_branch() -> None:
    ev = evidence(pods=[pod(running(), running("istio-proxy")), pod(running(), name="web-7f9c6d5b8-k9p2z")])

    finding = classify(ev)

    assert finding.branch is None
    assert finding.remedies == ()
    assert "healthy" in finding.summary
    assert "2/2 pods ready" in finding.summary


def test_workload_without_pods_has_no_branch() -> None:
    ev = evidence(pods=[])

    finding = classify(ev)

    assert finding.branch is None
    assert finding.remedies == ()
    assert "no pods" in finding.summary
    assert f"{NS}/web" in finding.summary


def test_no_pods_still_reports_what_could_not_be_read() -> None:
    failure = ReadFailure("list pods of deployment shop/web", "403 Forbidden", 'pods is forbidden: User "bot"')
    finding = classify(evidence(pods=[], failures=[failure]))

    assert finding.branch is None
    assert any("list pods of deployment shop/web" in r.text and "403 Forbidden" in r.text for r in finding.reasons)


def test_crash_loop_without_any_known_signal_is_reported_as_unexplained_with_low_confidence() -> None:
    ev = evidence(status=crashing(last=term("Error", 143)))

    finding = classify(ev)

    assert finding.branch == "app_env"
    assert finding.confidence <= 0.3
    assert finding.remedies == ()
    assert "not recognised" in finding.summary or "no runbook signal" in " ".join(r.text for r in finding.reasons)


# --- success criteria (the runbook's "Success:" lines) ----------------------------------------------------------

SUCCESS_ROWS = [
    pytest.param(evidence(log_lines=PY_TRACEBACK), ["restarts stop increasing", "no new fatal logs"], id="app_env"),
    pytest.param(oom(), ["no new oom events", "80%"], id="resources"),
    pytest.param(
        evidence(events=[liveness_kill()], specs=[spec(probes=[probe()])]),
        ["probe failures stop", "ready"],
        id="probes",
    ),
    pytest.param(evidence(log_lines=(FORBIDDEN,)), ["permission/mount errors disappear", "ready"], id="rbac_mounts"),
    pytest.param(
        evidence(status=waiting("ImagePullBackOff", "Back-off pulling image")),
        ["no missing resource/image errors", "starts cleanly"],
        id="image_config",
    ),
    pytest.param(
        evidence(log_lines=("Error: connect ECONNREFUSED 10.0.0.5:6379",)),
        ["reaches", "dependencies", "no new restarts tied to timeouts"],
        id="networking_deps",
    ),
]


@pytest.mark.parametrize(("ev", "phrases"), SUCCESS_ROWS)
def test_success_criteria_are_the_runbooks(ev: Evidence, phrases: list[str]) -> None:
    finding = classify(ev)

    assert finding.success_criteria
    for phrase in phrases:
        assert phrase in finding.success_criteria.lower()


def test_healthy_and_gone_findings_carry_no_success_criteria_of_a_branch() -> None:
    assert classify(evidence(pods=[])).success_criteria == ""
    assert classify(evidence(pods=[pod(running())])).success_criteria == ""


# --- resources: bump_memory -----------------------------------------------------------------------------------

BUMP_ROWS = [
    pytest.param("256Mi", None, "384Mi", id="256Mi-x1.5"),
    pytest.param("1Gi", None, "1536Mi", id="1Gi-x1.5"),
    pytest.param("100Mi", None, "192Mi", id="rounded-up-to-64Mi"),
    pytest.param("500M", None, "768Mi", id="decimal-suffix"),
    pytest.param("256Mi", 320 * MI, "320Mi", id="capped-by-max-memory"),
    pytest.param("1Gi", 4 * GI, "1536Mi", id="under-the-cap"),
    pytest.param("3Gi", 4 * GI, "4Gi", id="capped-at-4Gi"),
]


@pytest.mark.parametrize(("limit", "cap", "expected"), BUMP_ROWS)
def test_bump_memory_proposes_one_and_a_half_times_the_limit_capped_by_max_memory(
    limit: str, cap: int | None, expected: str
) -> None:
    ev = oom(specs=[spec(memory=limit, request_memory="64Mi")])

    finding = classify(ev, Policy(max_memory_bytes=cap))

    bump = remedy(finding, "bump_memory")
    assert bump.params["container"] == CONTAINER
    assert bump.params["from"] == limit
    assert bump.params["to"] == expected
    assert limit in bump.title
    assert expected in bump.title
    assert remedy_ids(finding)[0] == "bump_memory"


@pytest.mark.parametrize(
    ("limit", "cap"),
    [pytest.param("512Mi", 512 * MI, id="at-the-cap"), pytest.param("1Gi", 512 * MI, id="above-the-cap")],
)
def test_no_bump_memory_when_the_limit_is_already_at_the_cap_and_a_reason_says_so(limit: str, cap: int) -> None:
    finding = classify(oom(specs=[spec(memory=limit)]), Policy(max_memory_bytes=cap))

    assert finding.branch == "resources"
    assert "bump_memory" not in remedy_ids(finding)
    at_cap = [r for r in finding.reasons if "maximum" in r.text and "512Mi" in r.text]
    assert at_cap, [r.text for r in finding.reasons]
    assert at_cap[0].quote is not None
    assert limit in at_cap[0].quote
    assert "512Mi" in finding.next_step


def test_no_bump_memory_without_a_limit_and_the_next_step_says_to_set_one() -> None:
    finding = classify(oom(specs=[spec(memory=None, request_memory=None)]), Policy(max_memory_bytes=4 * GI))

    assert finding.branch == "resources"
    assert "bump_memory" not in remedy_ids(finding)
    assert any("no memory limit" in r.text for r in finding.reasons)
    assert "memory" in finding.next_step
    assert "limit" in finding.next_step


def test_bump_memory_targets_the_container_that_was_oomkilled_not_the_focus() -> None:
    ev = evidence(
        status=crashing(last=term("Error", 1)),
        others=[crashing("log-shipper", last=term("OOMKilled", 137))],
        specs=[spec(memory="512Mi"), spec("log-shipper", memory="64Mi", request_memory="32Mi")],
    )

    finding = classify(ev)

    assert finding.branch == "resources"
    bump = remedy(finding, "bump_memory")
    assert bump.params["container"] == "log-shipper"
    assert (bump.params["from"], bump.params["to"]) == ("64Mi", "128Mi")


def test_unparseable_memory_limit_gives_no_bump_and_names_the_bad_quantity() -> None:
    finding = classify(oom(specs=[spec(memory="lots")]))

    assert finding.branch == "resources"
    assert "bump_memory" not in remedy_ids(finding)
    assert any("lots" in r.text for r in finding.reasons)


# --- probes: patch_probes -------------------------------------------------------------------------------------


def probe_kill(*probes_: Any, events: Any = None) -> Evidence:
    return evidence(
        status=crashing(last=term("Error", 137)),
        events=events or [liveness_kill(), event("Unhealthy", LIVENESS_TIMEOUT, count=12)],
        specs=[spec(probes=probes_)],
    )


def test_patch_probes_adds_a_startup_probe_reusing_the_liveness_handler() -> None:
    finding = classify(probe_kill(probe("liveness", http=(8081, "/livez"), timeout=1, failures=3)))

    patch = remedy(finding, "patch_probes")
    proposed = patch.params["probes"]
    assert patch.params["container"] == CONTAINER
    assert proposed["startup"]["httpGet"]["port"] == 8081
    assert proposed["startup"]["httpGet"]["path"] == "/livez"
    assert proposed["startup"]["periodSeconds"] == 5
    assert proposed["startup"]["failureThreshold"] == 30
    assert proposed["liveness"]["timeoutSeconds"] == 5
    assert proposed["liveness"]["failureThreshold"] == 3
    assert patch.params["before"]["liveness"]["timeoutSeconds"] == 1
    assert "startupProbe" in patch.title or "startup" in patch.title.lower()


def test_patch_probes_startup_probe_reuses_a_tcp_liveness_handler() -> None:
    finding = classify(probe_kill(probe("liveness", http=None, tcp=5432, timeout=2, failures=5)))

    proposed = remedy(finding, "patch_probes").params["probes"]
    assert proposed["startup"]["tcpSocket"] == {"port": 5432}
    assert "httpGet" not in proposed["startup"]
    # already realistic settings are kept, never lowered
    assert proposed["liveness"]["failureThreshold"] == 5


def test_patch_probes_keeps_a_generous_liveness_timeout() -> None:
    finding = classify(probe_kill(probe("liveness", timeout=10, failures=6)))

    proposed = remedy(finding, "patch_probes").params["probes"]
    assert proposed["liveness"]["timeoutSeconds"] == 10
    assert proposed["liveness"]["failureThreshold"] == 6


@pytest.mark.parametrize(("before", "after"), [(10, 30), (20, 40)])
def test_patch_probes_lengthens_an_existing_startup_probe(before: int, after: int) -> None:
    events = [event("Killing", "Container app failed startup probe, will be restarted", type="Normal", count=5)]
    ev = probe_kill(probe("liveness"), probe("startup", period=5, failures=before), events=events)

    proposed = remedy(classify(ev), "patch_probes").params["probes"]
    assert proposed["startup"] == {"failureThreshold": after}


def test_patch_probes_relaxes_a_failing_readiness_probe() -> None:
    events = [event("Unhealthy", 'Readiness probe failed: Get "http://10.244.1.17:8080/ready": timeout', count=40)]
    ev = probe_kill(probe("readiness", http=(8080, "/ready"), timeout=1, failures=3), events=events)

    proposed = remedy(classify(ev), "patch_probes").params["probes"]
    assert proposed["readiness"] == {"timeoutSeconds": 3, "failureThreshold": 6}
    assert "startup" not in proposed


def test_no_patch_probes_when_the_container_spec_has_no_probes() -> None:
    finding = classify(probe_kill())

    assert finding.branch == "probes"
    assert "patch_probes" not in remedy_ids(finding)


@pytest.mark.parametrize(
    "message",
    [
        pytest.param("Liveness probe failed: HTTP probe failed with statuscode: 404", id="http-404"),
        pytest.param(
            'Liveness probe failed: Get "http://10.244.1.17:8081/healthz": dial tcp 10.244.1.17:8081: connect: '
            "connection refused",
            id="connection-refused",
        ),
    ],
)
def test_probe_pointing_at_the_wrong_port_or_path_says_so(message: str) -> None:
    ev = probe_kill(probe(), events=[liveness_kill(), event("Unhealthy", message, count=8)])

    finding = classify(ev)

    assert finding.branch == "probes"
    assert_quoted(finding, message, "events")
    assert any("port or path" in r.text for r in finding.reasons)


def test_probe_timeout_is_not_reported_as_a_wrong_endpoint() -> None:
    finding = classify(probe_kill(probe()))

    assert not any("port or path" in r.text for r in finding.reasons)


def test_probe_failure_count_is_summed_from_event_counts() -> None:
    events = [
        liveness_kill(),
        event("Unhealthy", LIVENESS_TIMEOUT, count=12),
        event("Unhealthy", 'Readiness probe failed: Get "http://10.244.1.17:8080/ready": EOF', count=5),
    ]
    finding = classify(probe_kill(probe(), probe("readiness"), events=events))

    assert any("17 probe failures" in r.text for r in finding.reasons), [r.text for r in finding.reasons]


# --- app & env: set_env, set_image ----------------------------------------------------------------------------

MISSING_ENV_ROWS = [
    pytest.param(PY_KEYERROR, "DATABASE_URL", id="python-keyerror"),
    pytest.param(
        ('  File "/app/settings.py", line 9, in <module>', "KeyError: 'STRIPE_API_KEY'"),
        "STRIPE_API_KEY",
        id="python-keyerror-last-line",
    ),
    pytest.param(("ERROR environment variable REDIS_URL is not set",), "REDIS_URL", id="environment-variable-not-set"),
    pytest.param(
        ('2024/05/01 11:59:58 required environment variable "PAYMENTS_API_URL" is not set',),
        "PAYMENTS_API_URL",
        id="go-quoted-name",
    ),
    pytest.param(("2024/05/01 11:59:58 DATABASE_DSN must be set",), "DATABASE_DSN", id="go-must-be-set"),
    pytest.param(
        ("2024/05/01 11:59:58 required key SMTP_HOST missing value",), "SMTP_HOST", id="go-envconfig-required-key"
    ),
    pytest.param(
        (
            "/app/node_modules/config/index.js:12",
            "Error: Missing required environment variable: JWT_SIGNING_KEY",
            "    at Object.<anonymous> (/app/config.js:5:9)",
        ),
        "JWT_SIGNING_KEY",
        id="node-missing-required",
    ),
    pytest.param(
        ("Error: env var SESSION_STORE_URL is required", "    at loadConfig (/app/src/config.ts:14:11)"),
        "SESSION_STORE_URL",
        id="node-env-var-required",
    ),
    pytest.param(("missing required env: ORDERS_TOPIC",), "ORDERS_TOPIC", id="missing-required-env"),
]


@pytest.mark.parametrize(("lines", "name"), MISSING_ENV_ROWS)
def test_missing_env_var_name_is_extracted_and_set_env_proposed(lines: tuple[str, ...], name: str) -> None:
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "app_env"
    set_env = remedy(finding, "set_env")
    assert set_env.params == {"container": CONTAINER, "name": name}
    assert name in set_env.title
    assert any(name in r.text and r.quote and name in r.quote for r in finding.reasons)
    assert finding.confidence >= 0.8


def test_crash_with_a_new_image_offers_the_previous_image() -> None:
    # the release is a day old: no emergency rollback, but the previous image is still the way back
    day_old = rollout(current=revision(7, image=IMAGE, name=CURRENT_RS, created=ago(hours=26)))
    finding = classify(evidence(log_lines=PY_TRACEBACK, rollout=day_old))

    assert finding.branch == "app_env"
    pin = remedy(finding, "set_image")
    assert pin.params == {"container": CONTAINER, "image": OLD_IMAGE}
    assert OLD_IMAGE in pin.title
    assert "rollout_undo" not in remedy_ids(finding)


def test_crash_without_an_image_change_offers_no_set_image() -> None:
    same_image = rollout(
        previous=revision(6, image=IMAGE, name=PREVIOUS_RS, created=ago(hours=30)),
        current=revision(7, image=IMAGE, name=CURRENT_RS, created=ago(hours=26)),
    )
    finding = classify(evidence(log_lines=PY_TRACEBACK, rollout=same_image))

    assert finding.branch == "app_env"
    assert "set_image" not in remedy_ids(finding)


# --- networking & deps: netcheck ------------------------------------------------------------------------------

NETCHECK_ROWS = [
    pytest.param(
        ('psycopg2.OperationalError: could not translate host name "orders-db" to address: Name or service not known',),
        "orders-db",
        5432,
        id="psycopg2-dns-default-port",
    ),
    pytest.param(
        (
            'psycopg2.OperationalError: connection to server at "db.shop.svc" (10.96.12.4), port 5433 failed: '
            "Connection refused",
            "\tIs the server running on that host and accepting TCP/IP connections?",
        ),
        "db.shop.svc",
        5433,
        id="psycopg2-refused",
    ),
    pytest.param(
        (
            "psycopg2.OperationalError: could not connect to server: Connection refused",
            '\tIs the server running on host "db" (10.96.12.4) and accepting',
            "\tTCP/IP connections on port 5432?",
        ),
        "db",
        5432,
        id="psycopg2-refused-libpq13-multiline",
    ),
    pytest.param(
        ("2024/05/01 11:59:58 dial tcp 10.96.3.7:5432: connect: connection refused",),
        "10.96.3.7",
        5432,
        id="go-dial-tcp-ip",
    ),
    pytest.param(
        ("failed to connect to cache: dial tcp redis.cache.svc.cluster.local:6380: i/o timeout",),
        "redis.cache.svc.cluster.local",
        6380,
        id="go-dial-tcp-host",
    ),
    pytest.param(
        ("redis: dial tcp: lookup redis-master on 10.96.0.10:53: no such host",),
        "redis-master",
        6379,
        id="go-lookup-default-port",
    ),
    pytest.param(
        (
            "Error: connect ECONNREFUSED 10.0.0.5:6379",
            "    at TCPConnectWrap.afterConnect [as oncomplete] (node:net:1555:16)",
        ),
        "10.0.0.5",
        6379,
        id="node-econnrefused",
    ),
    pytest.param(
        ("Error: getaddrinfo ENOTFOUND redis", "    at GetAddrInfoReqWrap.onlookup [as oncomplete] (node:dns:107:26)"),
        "redis",
        6379,
        id="node-enotfound-redis",
    ),
    pytest.param(
        ("Error: getaddrinfo EAI_AGAIN redis-master",),
        "redis-master",
        6379,
        id="node-eai-again-redis",
    ),
    pytest.param(
        ("MongoServerSelectionError: getaddrinfo ENOTFOUND mongo-0.mongo",),
        "mongo-0.mongo",
        27017,
        id="node-enotfound-mongo",
    ),
    pytest.param(
        ("redis.exceptions.ConnectionError: Error 111 connecting to redis-master:6379. Connection refused.",),
        "redis-master",
        6379,
        id="python-redis",
    ),
    pytest.param(
        (
            "org.postgresql.util.PSQLException: Connection to orders-db:5432 refused. Check that the hostname and "
            "port are correct and that the postmaster is accepting TCP/IP connections.",
        ),
        "orders-db",
        5432,
        id="java-jdbc",
    ),
    pytest.param(
        (
            "org.postgresql.util.PSQLException: Connection to orders-db:5432 refused. Check that the hostname and "
            "port are correct and that the postmaster is accepting TCP/IP connections.",
            "\tat org.postgresql.core.v3.ConnectionFactoryImpl.openConnectionImpl(ConnectionFactoryImpl.java:319)",
            "\tat org.postgresql.core.ConnectionFactory.openConnection(ConnectionFactory.java:49)",
            "Caused by: java.net.ConnectException: Connection refused",
        ),
        "orders-db",
        5432,
        id="java-stack-trace",
    ),
]


@pytest.mark.parametrize(("lines", "host", "port"), NETCHECK_ROWS)
def test_netcheck_carries_host_and_port_parsed_from_the_log(lines: tuple[str, ...], host: str, port: int) -> None:
    finding = classify(evidence(log_lines=("starting web 1.5.0", *lines)))

    assert finding.branch == "networking_deps"
    netcheck = remedy(finding, "netcheck")
    assert netcheck.params == {"host": host, "port": port}
    assert host in netcheck.title
    assert any(r.quote and r.quote in "\n".join(lines) for r in finding.reasons)


def test_dns_and_connection_errors_are_both_quoted() -> None:
    lines = (
        "Error: getaddrinfo ENOTFOUND redis",
        "retrying in 1s",
        "Error: connect ECONNREFUSED 10.0.0.5:6379",
    )
    finding = classify(evidence(log_lines=lines))

    assert finding.branch == "networking_deps"
    assert_quoted(finding, "getaddrinfo ENOTFOUND redis", "logs")
    assert_quoted(finding, "connect ECONNREFUSED 10.0.0.5:6379", "logs")


# --- confidence -----------------------------------------------------------------------------------------------


def test_a_read_failure_for_logs_lowers_confidence_and_is_named_in_the_reasons() -> None:
    failure = ReadFailure(f"logs --previous {NS}/{POD}/{CONTAINER}", "403 Forbidden", "pods/log is forbidden")
    with_logs = classify(oom())
    without_logs = classify(oom(failures=[failure]))

    assert without_logs.branch == with_logs.branch == "resources"
    assert without_logs.confidence == pytest.approx(with_logs.confidence - 0.1)
    missing = [r for r in without_logs.reasons if f"logs --previous {NS}/{POD}/{CONTAINER}" in r.text]
    assert missing, [r.text for r in without_logs.reasons]
    assert "403 Forbidden" in missing[0].text
    assert missing[0].quote == "pods/log is forbidden"


def test_a_read_failure_other_than_logs_is_named_but_keeps_the_confidence() -> None:
    failure = ReadFailure(f"events of {NS}/web", "timeout", "no answer within 5s")
    with_events = classify(oom())
    without_events = classify(oom(failures=[failure]))

    assert without_events.confidence == with_events.confidence
    assert any(f"events of {NS}/web" in r.text and "timeout" in r.text for r in without_events.reasons)


def test_a_close_runner_up_lowers_confidence_and_is_listed_as_an_alternative() -> None:
    lines = (
        "Traceback (most recent call last):",
        '  File "/app/cache.py", line 8, in warm',
        "PermissionError: [Errno 13] Permission denied: '/data/cache/index.db'",
    )
    alone = classify(evidence(log_lines=(lines[-1].replace("PermissionError: ", ""),)))
    contested = classify(evidence(log_lines=lines))

    assert contested.branch == alone.branch == "rbac_mounts"
    assert contested.confidence < alone.confidence
    assert "app_env" in contested.alternatives


def test_specific_signal_gives_higher_confidence_than_a_bare_exit_code() -> None:
    specific = classify(evidence(log_lines=PY_KEYERROR))
    bare = classify(evidence(status=crashing(last=term("Error", 1))))

    assert specific.confidence > bare.confidence


def test_next_step_is_the_first_remedy() -> None:
    finding = classify(oom())

    assert finding.remedies
    assert finding.next_step == finding.remedies[0].title


def test_next_step_in_words_when_no_remedy_fits() -> None:
    finding = classify(evidence(status=waiting("CreateContainerConfigError", 'secret "gateway-secrets" not found')))

    assert finding.remedies == ()
    assert "gateway-secrets" in finding.next_step
    assert f"{NS}/gateway-secrets" in finding.next_step
