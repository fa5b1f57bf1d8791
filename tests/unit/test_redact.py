"""Secrets never leave the process; the lines that explain a crash stay readable."""

from __future__ import annotations

import pytest

from bot.core.redact import MASK, mask_pod_secrets, redact, redact_lines, redact_obj

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITHUB_CLASSIC = "ghp_4bC9dE2fG7hJ1kL3mN5pQ8rS0tU6vW2xY4zA"
GITHUB_FINE_GRAINED = "github_pat_11ABCDE2F0aBcDeFgHiJkL_mNoPqRsTuVwXyZ0123456789aBcDeFgHiJkLmNoPqRsTuVwXyZ01234567"

# (line, the secret that must vanish, text that must survive)
SECRET_ROWS = [
    pytest.param(
        "connecting to postgres://app:s3cr3tP4ss@db.shop.svc:5432/orders",
        "s3cr3tP4ss",
        ["postgres://app:", "@db.shop.svc:5432/orders"],
        id="url-password",
    ),
    pytest.param("amqp://guest:gu3stPw@rabbitmq:5672/", "gu3stPw", ["amqp://guest:", "@rabbitmq:5672/"], id="amqp-url"),
    pytest.param("REDIS_URL=redis://:hunter2@redis:6379/0", "hunter2", ["@redis:6379/0"], id="url-empty-user"),
    pytest.param("password=hunter2 user=app", "hunter2", ["password=", "user=app"], id="password="),
    pytest.param("DB_PASSWORD=hunter2 DB_USER=app", "hunter2", ["DB_PASSWORD=", "DB_USER=app"], id="env-password"),
    pytest.param('DB_PASSWORD="hunter2" DB_USER=app', "hunter2", ["DB_PASSWORD=", "DB_USER=app"], id="quoted-env"),
    pytest.param(
        '{"password": "correct horse battery staple", "user": "bob"}',
        "horse battery staple",
        ['"user": "bob"'],
        id="json-passphrase-with-spaces",
    ),
    pytest.param('{"token": "tok_9f8e7d6c5b", "user": "bob"}', "tok_9f8e7d6c5b", ['"user": "bob"'], id="json-token"),
    pytest.param('{"api_key":"AbC123xyz987"}', "AbC123xyz987", ['"api_key"'], id="json-api-key-no-space"),
    pytest.param("client_secret: 8f14e45fceea167a5a36", "8f14e45fceea167a5a36", ["client_secret"], id="yaml-secret"),
    pytest.param(
        "connecting with {'host': 'db', 'user': 'app', 'password': 'hunter2'}",
        "hunter2",
        ["'host': 'db'", "'password'"],
        id="python-dict-repr",
    ),
    pytest.param("--db-password hunter2 --port 5432", "hunter2", ["--db-password", "--port 5432"], id="flag-space"),
    pytest.param("--password=hunter2", "hunter2", ["--password="], id="flag-equals"),
    pytest.param(
        "Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef", ["Authorization: Bearer"], id="bearer"
    ),
    pytest.param(
        "curl -H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='",
        "dXNlcjpwYXNzd29yZA",
        ["Authorization: Basic"],
        id="basic-header",
    ),
    pytest.param(
        '"headers": {"authorization": "Bearer s3cr3t.t0k3n.value"}',
        "s3cr3t.t0k3n.value",
        ['"authorization"'],
        id="json-authorization",
    ),
    pytest.param(f"session {JWT} expired", JWT.split(".")[2], ["session", "expired"], id="jwt"),
    pytest.param(f"401 for bearer {JWT}", JWT.split(".")[1], ["401 for bearer"], id="bearer-jwt"),
    pytest.param("using key AKIAIOSFODNN7EXAMPLE for s3", "AKIAIOSFODNN7EXAMPLE", ["using key", "for s3"], id="aws-id"),
    pytest.param("ASIAY34FZKBOKMUTVV7A", "ASIAY34FZKBOKMUTVV7A", [], id="aws-temporary-id"),
    pytest.param(f"aws_secret_access_key = {AWS_SECRET}", AWS_SECRET, ["aws_secret_access_key"], id="aws-secret"),
    pytest.param(f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}", AWS_SECRET, ["AWS_SECRET_ACCESS_KEY="], id="aws-secret-env"),
    pytest.param(
        "slack post failed with xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
        "AbCdEfGhIjKlMnOpQrStUvWx",
        ["slack post failed"],
        id="slack-bot-token",
    ),
    pytest.param(
        "socket mode: xapp-1-A0123BCDEFG-1234567890123-abcdef0123456789",
        "abcdef0123456789",
        ["socket mode:"],
        id="slack-app-token",
    ),
    pytest.param(f"git clone with {GITHUB_CLASSIC}", GITHUB_CLASSIC, ["git clone with"], id="github-classic-pat"),
    pytest.param(
        f"git clone with {GITHUB_FINE_GRAINED}", GITHUB_FINE_GRAINED[11:], ["git clone with"], id="github-fine-pat"
    ),
    pytest.param(
        "https://x-access-token:ghs_16C7e42F292c6912E7710c838347Ae178B4a@github.com/org/repo.git",
        "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
        ["@github.com/org/repo.git"],
        id="github-token-in-url",
    ),
    pytest.param(
        "stripe: sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc", ["stripe:"], id="stripe-secret-key"
    ),
    pytest.param(
        "-----BEGIN RSA PRIVATE KEY-----\\nMIIEowIBAAKCAQEA7bq\\n-----END RSA PRIVATE KEY-----",
        "MIIEowIBAAKCAQEA7bq",
        ["BEGIN RSA PRIVATE KEY"],
        id="pem-escaped-in-one-line",
    ),
]


@pytest.mark.parametrize(("line", "secret", "kept"), SECRET_ROWS)
def test_secret_is_redacted_and_the_rest_of_the_line_kept(line: str, secret: str, kept: list[str]) -> None:
    out = redact(line)

    assert secret not in out, out
    assert MASK in out
    for text in kept:
        assert text in out, out


@pytest.mark.parametrize(("line", "secret", "kept"), SECRET_ROWS)
def test_redaction_is_idempotent(line: str, secret: str, kept: list[str]) -> None:
    once = redact(line)
    assert redact(once) == once


def test_the_name_of_what_was_hidden_stays_next_to_the_mask() -> None:
    assert redact("password=hunter2") == f"password={MASK}"
    assert redact('{"token": "abc123def"}') == f'{{"token": "{MASK}"}}'
    assert redact("postgres://app:hunter2@db:5432/app") == f"postgres://app:{MASK}@db:5432/app"
    assert redact("Authorization: Bearer abcdef0123456789") == f"Authorization: Bearer {MASK}"


NOT_SECRET = [
    pytest.param('secret "gateway-secrets" not found', id="missing-secret"),
    pytest.param('Error: secret "gateway-secrets" not found', id="missing-secret-event"),
    pytest.param("couldn't find key DB_PASSWORD in Secret shop/db-creds", id="missing-key"),
    pytest.param(
        'configmaps is forbidden: User "system:serviceaccount:shop:default" cannot list resource "configmaps" in API '
        'group "" in the namespace "shop"',
        id="forbidden-configmaps",
    ),
    pytest.param(
        'secrets is forbidden: User "system:serviceaccount:shop:web" cannot get resource "secrets" in API group "" '
        'in the namespace "shop"',
        id="forbidden-secrets",
    ),
    pytest.param(
        'MountVolume.SetUp failed for volume "tls-secret" : secret "tls-secret" not found', id="failed-mount-secret"
    ),
    pytest.param("KeyError: 'DATABASE_URL'", id="keyerror"),
    pytest.param("KeyError: 'DB_PASSWORD'", id="keyerror-password-name"),
    pytest.param("environment variable API_TOKEN is not set", id="missing-token-env"),
    pytest.param("GET /healthz 200 1.2ms", id="access-log"),
    pytest.param("Listening on http://0.0.0.0:8080", id="listening"),
    pytest.param("connecting to postgres://db.shop.svc:5432/orders", id="url-without-credentials"),
    pytest.param("dial tcp 10.96.3.7:5432: connect: connection refused", id="dial-tcp"),
    pytest.param(
        'Liveness probe failed: Get "http://10.244.1.17:8080/healthz": context deadline exceeded', id="probe-event"
    ),
    pytest.param('Back-off pulling image "registry.example.com/shop/web:1.5.0"', id="image-pull"),
    pytest.param("back-off 5m0s restarting failed container=app pod=web-7f9c6d5b8-x2x4q_shop", id="crashloop"),
    pytest.param("startup checks passed: 5/5", id="passed-colon"),
    pytest.param("falling back to basic authentication for the registry", id="basic-authentication-words"),
    pytest.param("Using bearer token authentication", id="bearer-token-words"),
    pytest.param("", id="empty"),
]


@pytest.mark.parametrize("line", NOT_SECRET)
def test_evidence_that_is_not_a_secret_is_left_alone(line: str) -> None:
    assert redact(line) == line


PEM_BODY = [
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj",
    "MrOq3G8nlbS0a1P8iSjQqKO2cQ1aPIVdz7TbA2bC5r1Jq+9oPq6fXyZ0a1b2c3d4",
    "e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6A7B8C9D0E1F2G3H4I5J6",
]


def test_pem_private_key_spanning_several_lines_is_hidden_by_redact_lines() -> None:
    lines = [
        "loading TLS key from env",
        "-----BEGIN PRIVATE KEY-----",
        *PEM_BODY,
        "-----END PRIVATE KEY-----",
        "ssl.SSLError: [SSL] PEM lib (_ssl.c:3900)",
    ]

    out = redact_lines(lines)

    joined = "\n".join(out)
    for body in PEM_BODY:
        assert body not in joined
    assert out[0] == "loading TLS key from env"
    assert out[-1] == "ssl.SSLError: [SSL] PEM lib (_ssl.c:3900)"
    assert "BEGIN PRIVATE KEY" in out[1]
    assert MASK in out[1]
    assert len(out) == 3


@pytest.mark.parametrize("kind", ["RSA ", "EC ", "OPENSSH ", "ENCRYPTED ", ""])
def test_every_kind_of_pem_private_key_is_hidden(kind: str) -> None:
    lines = [f"-----BEGIN {kind}PRIVATE KEY-----", *PEM_BODY, f"-----END {kind}PRIVATE KEY-----", "next"]

    out = redact_lines(lines)

    assert out == [f"-----BEGIN {kind}PRIVATE KEY----- {MASK}", "next"]


def test_pem_key_after_a_log_prefix_keeps_the_prefix() -> None:
    out = redact_lines(["2024-05-01 key=-----BEGIN RSA PRIVATE KEY-----", PEM_BODY[0], "-----END RSA PRIVATE KEY-----"])

    assert len(out) == 1
    assert out[0].startswith("2024-05-01 key=")
    assert PEM_BODY[0] not in out[0]


def test_a_truncated_pem_key_hides_everything_after_its_begin_line() -> None:
    out = redact_lines(["-----BEGIN EC PRIVATE KEY-----", PEM_BODY[0], PEM_BODY[1]])

    assert out == [f"-----BEGIN EC PRIVATE KEY----- {MASK}"]


def test_pem_certificates_are_not_private_and_are_kept() -> None:
    lines = [
        "-----BEGIN CERTIFICATE-----",
        "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBa",
        "-----END CERTIFICATE-----",
    ]

    assert redact_lines(lines) == lines


def test_redact_lines_redacts_each_line_and_keeps_their_order() -> None:
    lines = ["starting", "password=hunter2", 'secret "gateway-secrets" not found', "KeyError: 'DATABASE_URL'"]

    out = redact_lines(lines)

    assert out == ["starting", f"password={MASK}", 'secret "gateway-secrets" not found', "KeyError: 'DATABASE_URL'"]


def test_redact_lines_of_nothing_is_nothing() -> None:
    assert redact_lines([]) == []


# --- the twelve kinds the adversarial probe planted (issue 12): each in several shapes --------------------------

GCP_KEY = (
    '{"type": "service_account", "project_id": "shop-prod", "private_key_id": "4f1c2d3e", '
    '"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvgIBADANBgkqhkiG9w0BAQEFAASC\\n-----END PRIVATE KEY-----\\n", '
    '"client_email": "bot@shop-prod.iam.gserviceaccount.com"}'
)

# (kind, planted text, the secret that must vanish)
TWELVE_KINDS = [
    ("aws-keys", "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"),
    ("aws-keys", "key ASIAY34FZKBOKMUTVV7A expired", "ASIAY34FZKBOKMUTVV7A"),
    ("aws-keys", f"aws_secret_access_key={AWS_SECRET}", AWS_SECRET),
    ("aws-keys", f'{{"SecretAccessKey": "{AWS_SECRET}"}}', AWS_SECRET),
    ("aws-keys", f"AWS_SECRET_KEY: {AWS_SECRET}", AWS_SECRET),
    ("jwt", f"token rejected: {JWT}", JWT.split(".")[2]),
    ("jwt", f"id_token={JWT}&state=x", JWT.split(".")[1]),
    (
        "pem-private-key",
        "key=-----BEGIN EC PRIVATE KEY-----\\nMHcCAQEEIBkg4LVWM9nuwNSk\\n-----END EC PRIVATE KEY-----",
        "MHcCAQEEIBkg4LVWM9nuwNSk",
    ),
    (
        "pem-private-key",
        "-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjEAAAAA -----END OPENSSH PRIVATE KEY-----",
        "b3BlbnNzaC1rZXktdjEAAAAA",
    ),
    ("slack-token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx", "AbCdEfGhIjKlMnOpQrStUvWx"),
    (
        "slack-token",
        "user token xoxp-123456789012-123456789012-123456789012-0123456789abcdef0123456789abcdef",
        "0123456789abcdef0123456789abcdef",
    ),
    ("slack-token", "xapp-1-A0123BCDEFG-1234567890123-abcdef0123456789abcdef", "abcdef0123456789abcdef"),
    (
        "slack-token",
        "refresh with xoxe-1-My0xLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIz",
        "My0xLTEyMzQ1Njc4OTAxMi0xMjM0NTY3ODkwMTIz",
    ),
    (
        "slack-token",
        "rotating xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4OTAxMi1hYmNkZWZnaGlq",
        "Mi0yLTEyMzQ1Njc4OTAxMi1hYmNkZWZnaGlq",
    ),
    ("github-token", f"GITHUB_TOKEN={GITHUB_CLASSIC}", GITHUB_CLASSIC),
    ("github-token", "oauth gho_16C7e42F292c6912E7710c838347Ae178B4a ok", "gho_16C7e42F292c6912E7710c838347Ae178B4a"),
    ("github-token", f"pat {GITHUB_FINE_GRAINED}", GITHUB_FINE_GRAINED[11:]),
    ("password-in-url", "mongodb+srv://admin:Sup3rS3cret@cluster0.mongodb.net/shop", "Sup3rS3cret"),
    ("password-in-url", "https://deploy:gl-p4ss-w0rd@gitlab.example.com/shop.git", "gl-p4ss-w0rd"),
    ("password-assignment", "password=hunter2", "hunter2"),
    ("password-assignment", "passwd: hunter2", "hunter2"),
    ("password-assignment", "secret=s3cr3t-value", "s3cr3t-value"),
    ("password-assignment", "DB_PASS=hunter2", "hunter2"),
    ("password-assignment", '{"password":"correct horse"}', "correct horse"),
    ("bearer-basic-auth", "Authorization: Bearer abcdef0123456789abcdef", "abcdef0123456789abcdef"),
    ("bearer-basic-auth", "-H 'Authorization: Basic dXNlcjpwYXNzd29yZA=='", "dXNlcjpwYXNzd29yZA"),
    ("bearer-basic-auth", "Proxy-Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d", "0a1b2c3d4e5f6a7b8c9d"),
    ("gcp-service-account", GCP_KEY, "MIIEvgIBADANBgkqhkiG9w0BAQEFAASC"),
    ("generic-api-key", "api_key=AbC123xyz987", "AbC123xyz987"),
    ("generic-api-key", "X-API-Key: 9d8c7b6a5f4e3d2c1b0a", "9d8c7b6a5f4e3d2c1b0a"),
    ("generic-api-key", "apikey: 9d8c7b6a5f4e3d2c1b0a", "9d8c7b6a5f4e3d2c1b0a"),
    ("stripe-key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
    ("stripe-key", "rk_test_51HxYzABCdefGHIjklMNOpqr", "51HxYzABCdefGHIjklMNOpqr"),
    ("stripe-key", "webhook whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
    ("db-connection-string", "postgresql://app:pg-p4ss@db:5432/orders", "pg-p4ss"),
    ("db-connection-string", "host=db port=5432 user=app password=pg-p4ss dbname=orders", "pg-p4ss"),
    ("db-connection-string", "Server=tcp:db,1433;User ID=sa;Password=Mssql-P4ss;Encrypt=true", "Mssql-P4ss"),
    ("db-connection-string", "jdbc:mysql://db:3306/shop?user=app&password=my-p4ss&useSSL=true", "my-p4ss"),
    ("db-connection-string", "redis://:r3dis-p4ss@redis:6379/0", "r3dis-p4ss"),
]


@pytest.mark.parametrize(
    ("kind", "planted", "secret"), TWELVE_KINDS, ids=[f"{k[0]}-{i}" for i, k in enumerate(TWELVE_KINDS)]
)
def test_each_of_the_twelve_kinds_is_caught(kind: str, planted: str, secret: str) -> None:
    out = redact(planted)

    assert secret not in out, out
    assert MASK in out
    assert redact(out) == out


def test_the_table_covers_twelve_kinds() -> None:
    assert len({kind for kind, _, _ in TWELVE_KINDS}) == 12


COUNTER_EXAMPLES = [
    "image: registry.example.com/shop/api@sha256:" + "a" * 64,
    "request id 0f8fad5b-d9cb-469f-a165-70867728950e failed",
    "github.com/org/repo/pull/1234 merged by ghost",
    "Using Basic auth for the registry",
    "the password was rotated 3 days ago",
    "sk_live keys are only in the vault",
    "xoxb tokens are configured in the Secret",
    "ASIA region endpoint unreachable",
    "eyJ is how JWTs start",
    "postgresql://db.shop.svc:5432/orders?sslmode=require",
    "private_key_path=/etc/tls/key.pem is missing",
]


@pytest.mark.parametrize("line", COUNTER_EXAMPLES)
def test_counter_examples_are_left_alone(line: str) -> None:
    assert redact(line) == line


# --- structures: stored payloads and pod templates --------------------------------------------------------------


def test_redact_obj_redacts_every_string_and_whatever_sits_under_a_secret_key() -> None:
    payload = {
        "alerts": [
            {
                "labels": {"alertname": "KubePodCrashLooping", "namespace": "shop"},
                "annotations": {"description": "login failed: postgres://app:pg-p4ss@db/orders", "runbook": "x"},
                "startsAt": "2026-12-01T09:00:00Z",
            }
        ],
        "cubeSampleLog": f"retrying with Authorization: Bearer {JWT}",
        "auth": {"apiKey": "9d8c7b6a5f4e3d2c1b0a", "client_secret": "s3cr3t-v", "secretName": "db-creds"},
        "env": ({"name": "DB_PASSWORD", "value": "hunter2"}, {"name": "LOG_LEVEL", "value": "debug"}),
        "count": 3,
        "firing": True,
        "token_ttl_seconds": 3600,
        "missing": None,
    }

    out = redact_obj(payload)

    text = repr(out)
    for secret in ("pg-p4ss", JWT.split(".")[2], "9d8c7b6a5f4e3d2c1b0a", "s3cr3t-v", "hunter2"):
        assert secret not in text
    assert out["alerts"][0]["labels"] == payload["alerts"][0]["labels"]
    assert out["alerts"][0]["annotations"]["description"] == f"login failed: postgres://app:{MASK}@db/orders"
    assert out["auth"] == {"apiKey": MASK, "client_secret": MASK, "secretName": "db-creds"}
    assert out["env"] == [{"name": "DB_PASSWORD", "value": MASK}, {"name": "LOG_LEVEL", "value": "debug"}]
    assert (out["count"], out["firing"], out["token_ttl_seconds"], out["missing"]) == (3, True, 3600, None)
    assert payload["auth"]["apiKey"] == "9d8c7b6a5f4e3d2c1b0a"  # the caller's value is left alone


@pytest.mark.parametrize("value", ["plain text", 42, None, True, 1.5, [], {}])
def test_redact_obj_keeps_what_holds_no_secret(value: object) -> None:
    assert redact_obj(value) == value


def deployment(container: dict[str, object]) -> dict[str, object]:
    return {
        "kind": "Deployment",
        "metadata": {"name": "api", "annotations": {"note": "password=in-an-annotation"}},
        "spec": {"template": {"spec": {"initContainers": [dict(container, name="init")], "containers": [container]}}},
    }


def test_mask_pod_secrets_masks_env_values_args_and_command_in_every_container() -> None:
    container = {
        "name": "app",
        "image": "registry.example.com/shop/api:1.5.0",
        "command": ["/app/server", "--db-password", "hunter2", "--token=tok-abc123def"],
        "args": ["--port", "8080", "--api-key", "9d8c7b6a5f4e3d2c1b0a", "--log-level", "debug", "--secret-file", "/s"],
        "env": [
            {"name": "DB_PASSWORD", "value": "hunter2"},
            {"name": "STRIPE_KEY", "value": "not-shaped-like-a-stripe-key"},
            {"name": "DATABASE_URL", "value": "postgresql://app:pg-p4ss@db:5432/orders"},
            {"name": "UPSTREAM", "value": f"Bearer {JWT}"},
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "DB_PASSWORD_FILE", "value": "/run/secrets/db"},
            {"name": "EMPTY_TOKEN", "value": ""},
            {"name": "FROM_SECRET", "valueFrom": {"secretKeyRef": {"name": "db-creds", "key": "password"}}},
        ],
    }

    out = mask_pod_secrets(deployment(container))

    for masked in out["spec"]["template"]["spec"]["containers"] + out["spec"]["template"]["spec"]["initContainers"]:
        assert masked["command"] == ["/app/server", "--db-password", MASK, f"--token={MASK}"]
        assert masked["args"] == [
            "--port", "8080", "--api-key", MASK, "--log-level", "debug", "--secret-file", "/s"
        ]  # fmt: skip
        assert [e.get("value") for e in masked["env"]] == [
            MASK,
            MASK,
            f"postgresql://app:{MASK}@db:5432/orders",
            f"Bearer {MASK}",
            "debug",
            "/run/secrets/db",
            "",
            None,
        ]
        assert masked["env"][-1] == container["env"][-1]  # a reference to a Secret is not a secret
        assert masked["image"] == container["image"]
    assert out["metadata"]["annotations"]["note"] == f"password={MASK}"
    assert "hunter2" not in repr(out)
    assert container["env"][0]["value"] == "hunter2"  # the caller's template is left alone
