"""The signature library, signature by signature: each matches a line from a real incident and not its near miss.

Every built-in signature has a row: the corpus case (or public report) the line comes from, the line, the named
groups it must read from it, and a counter-example — a line from the same neighbourhood that means something else
and must not match. A signature without a row fails `test_every_signature_has_a_real_incident_and_a_counter`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml

from runbooks.signature_match import compiled
from runbooks.signatures import BUILT_IN

CORPUS = Path(__file__).parents[1] / "corpus"
# A public report that is not (yet) a corpus case: bcgov/ckan-ui#611, pods crashing after a dependency was dropped.
PUBLIC = {"https://github.com/bcgov/ckan-ui/pull/611": ("Error: Cannot find module 'btoa'",)}

# signature id: (corpus case id or public URL, a substring of one of its lines, groups read from it, counter-example)
ROWS: dict[str, tuple[str, str, dict[str, str], str]] = {
    "dns-lookup-no-such-host": (
        "tekton-step-image-cluster-registry-no-such-host",
        "lookup docker-registry.core.svc.cluster.local on 10.0.2.3:53: no such host",
        {"host": "docker-registry.core.svc.cluster.local"},
        "lookup docker-registry.core.svc.cluster.local succeeded: 10.96.4.2",
    ),
    "nginx-host-not-found": (
        "mimir-nginx-host-not-found-in-resolver-rke2",
        'host not found in resolver "kube-dns.kube-system.svc.cluster.local"',
        {"what": "resolver", "host": "kube-dns.kube-system.svc.cluster.local"},
        'nginx: [emerg] unknown directive "resolver_timeout:" in /etc/nginx/nginx.conf:25',
    ),
    "jvm-unknown-host": (
        "jvm-kafka-broker-zookeeper-unknownhost-kube-dns-delay",
        "java.net.UnknownHostException: zook: Name does not resolve",
        {"host": "zook"},
        "java.net.ConnectException: Connection refused (Connection refused)",
    ),
    "node-getaddrinfo": (
        "node-mongo-express-cross-namespace-short-name-enotfound",
        "getaddrinfo ENOTFOUND mongo mongo:27017",
        {"host": "mongo", "port": "27017"},
        "Error: connect ETIMEDOUT 10.0.0.12:27017",
    ),
    "name-or-service-not-known": (
        "python-airflow-celery-worker-broker-url-wrong-redis-service-name",
        "Error -2 connecting to my-dag-test-redis:6379. Name or service not known",
        {"host": "my-dag-test-redis", "port": "6379"},
        "Error 111 connecting to my-dag-test-redis:6379. Connection refused.",
    ),
    "node-econnrefused": (
        "node-backstage-backend-econnrefused-postgres-not-ready",
        "connect ECONNREFUSED 10.60.3.239:5432",
        {"host": "10.60.3.239", "port": "5432"},
        "code: 'ECONNREFUSED',",
    ),
    "dial-connection-refused": (
        "elasticsearch-master-liveness-transport-refused",
        "dial tcp 172.17.0.4:9300: getsockopt: connection refused",
        {"host": "172.17.0.4", "port": "9300"},
        "dial tcp 172.17.0.4:9300: i/o timeout",
    ),
    "connect-timeout-endpoint": (
        "go-katib-manager-db-not-ready-ping-io-timeout",
        "dial tcp 10.254.131.230:3306: i/o timeout",
        {"host": "10.254.131.230", "port": "3306"},
        "dial tcp 10.254.131.230:3306: connect: connection refused",
    ),
    "x509-unknown-authority": (
        "keycloak-gatekeeper-x509-unknown-authority-oidc",
        "x509: certificate signed by unknown authority",
        {},
        "x509: certificate has been loaded from /etc/ssl/certs/ca.pem",
    ),
    "x509-invalid-for-host": (
        "nginx-plus-ingress-apiserver-x509-no-ip-san",
        "x509: cannot validate certificate for 30.65.0.1 because it doesn't contain any IP",
        {"host": "30.65.0.1"},
        "x509: certificate signed by unknown authority",
    ),
    "tls-verify-failed": (
        "python-bunkerweb-controller-custom-ca-certificate-verify-failed",
        "certificate verify failed: unable to get issuer certificate",
        {},
        "SSL certificate loaded; verify mode CERT_REQUIRED",
    ),
    "coredns-forwarding-loop": (
        "coredns-loop-systemd-resolved",
        "more than twice, loop detected",
        {},
        "[INFO] plugin/reload: Running configuration MD5 = 3d3f6363f05ccd60e0f885f0eca6c5ff",
    ),
    "zookeeper-connect-timeout": (
        "kubeless-kafka-zookeeper-connect-timeout",
        "Unable to connect to zookeeper server within timeout: 6000",
        {},
        "INFO Connecting to zookeeper on zookeeper:2181 (kafka.server.KafkaServer)",
    ),
    "spring-placeholder": (
        "spring-placeholder-enable-tracing-bank-of-anthos",
        "Could not resolve placeholder 'ENABLE_TRACING'",
        {"name": "ENABLE_TRACING"},
        "Resolved placeholder 'ENABLE_TRACING' to false",
    ),
    "shell-unbound-variable": (
        "shell-keycloak-entrypoint-db-addr-unbound-variable",
        "DB_ADDR: unbound variable",
        {"name": "DB_ADDR"},
        "DB_ADDR is set to postgres.keycloak.svc",
    ),
    "envconfig-required-key": (
        "oidc-authservice-required-key-authservice-url-prefix",
        "required key AUTHSERVICE_URL_PREFIX missing value",
        {"name": "AUTHSERVICE_URL_PREFIX"},
        "loaded key AUTHSERVICE_URL_PREFIX from the environment",
    ),
    "django-setting-empty": (
        "python-django-zulip-secret-key-empty-helm",
        "The SECRET_KEY setting must not be empty",
        {"name": "SECRET_KEY"},
        "The DEBUG setting is on: do not use it in production",
    ),
    "django-improperly-configured": (
        "python-django-zulip-secret-key-empty-helm",
        "ImproperlyConfigured: The SECRET_KEY setting must not be empty",
        {"name": "SECRET_KEY"},
        "django.core.exceptions.ImproperlyConfigured: Requested setting, but settings are not configured.",
    ),
    "rails-secret-key-base": (
        "ruby-rails-secret-key-base-env-renamed",
        "Missing `secret_key_base` for 'prod_k8s' environment",
        {"setting": "secret_key_base"},
        "Using secret_key_base from credentials for 'production' environment",
    ),
    "pydantic-settings-validation": (
        "python-langflow-pydantic-port-service-link-env",
        "1 validation error for Settings",
        {},
        "1 validation error for CreateUserRequest",
    ),
    "dotnet-inotify-limit": (
        "dotnet-inotify-limit-easytrade",
        "The configured user limit (128) on the number of inotify instances has been reached",
        {},
        "System.IO.IOException: The process cannot access the file because it is being used by another process.",
    ),
    "python-module-not-found": (
        "python-sedna-kb-no-module-cv2",
        "ModuleNotFoundError: No module named 'cv2'",
        {"name": "cv2"},
        "ConnectionError: HTTPConnectionPool(host='kb', port=9020): Max retries exceeded",
    ),
    "node-cannot-find-module": (
        "https://github.com/bcgov/ckan-ui/pull/611",
        "Error: Cannot find module 'btoa'",
        {"name": "btoa"},
        "Error: Cannot find name 'btoa' in the current scope",
    ),
    "ruby-gem-not-found": (
        "ruby-openc3-anycable-init-bundler-gemnotfound-byebug",
        "Could not find gem 'byebug mri, mingw, x64_mingw' in locally installed gems. (Bundler::GemNotFound)",
        {"name": "byebug mri, mingw, x64_mingw"},
        "Bundle complete! 42 Gemfile dependencies, 97 gems now installed.",
    ),
    "jvm-class-not-found": (
        "kafka-cruisecontrol-metrics-reporter-classnotfound",
        "ClassNotFoundException: com.linkedin.kafka.cruisecontrol.metricsreporter.CruiseControlMetricsReporter",
        {"name": "com.linkedin.kafka.cruisecontrol.metricsreporter.CruiseControlMetricsReporter"},
        "Loaded class com.linkedin.kafka.cruisecontrol.metricsreporter.CruiseControlMetricsReporter",
    ),
    "jvm-main-class": (
        "aws-webapp-main-class-not-found-war-packaging",
        "Could not find or load main class org.aws.samples.compute.webapp.Main",
        {"name": "org.aws.samples.compute.webapp.Main"},
        "Starting main class org.aws.samples.compute.webapp.Main",
    ),
    "dotnet-app-not-found": (
        "dotnet-synapse-wrong-assembly-name-dockerfile",
        "Could not execute because the application was not found",
        {},
        "Application started. Press Ctrl+C to shut down.",
    ),
    "exec-format-error": (
        "dotnet-pitstop-exec-format-error",
        "exec /usr/bin/dotnet: exec format error",
        {},
        "exec /usr/bin/dotnet: no such file or directory",
    ),
    "bad-interpreter": (
        "shell-wso2-apim-crlf-bad-interpreter",
        "/bin/sh^M: bad interpreter: No such file or directory",
        {"interp": "/bin/sh^M"},
        "/home/wso2user/scripts/init_carbon.sh: line 12: wso2server.sh: command not found",
    ),
    "nginx-directive": (
        "mimir-nginx-unknown-directive-api-prom-prefix",
        'unknown directive "/api/prom" in /etc/nginx/nginx.conf:84',
        {"directive": "/api/prom"},
        'host not found in upstream "mimir-distributor" in /etc/nginx/nginx.conf:84',
    ),
    "redis-bad-directive": (
        "redis-ha-slaveof-empty-host-fatal-config",
        "Bad directive or wrong number of arguments",
        {},
        "# Redis version=3.2.8, bits=64, commit=00000000, modified=0, pid=1, just started",
    ),
    "envoy-bootstrap-config": (
        "istio-proxy-outlier-log-bootstrap-json",
        "error initializing configuration '/etc/istio/proxy/envoy-rev0.json'",
        {"file": "/etc/istio/proxy/envoy-rev0.json"},
        "Envoy proxy is ready",
    ),
    "grafana-provisioning": (
        "grafana-two-default-datasources-provisioning-error",
        "Datasource provisioning error: datasource.yaml config is invalid",
        {},
        'logger=provisioning level=info msg="inserting datasource from configuration" name=Prometheus',
    ),
    "kafka-config-requirement": (
        "strimzi-kraft-kafka-39-advertised-listener-0000",
        "requirement failed: advertised.listeners cannot use the nonroutable meta-address 0.0.0.0",
        {"setting": "advertised.listeners"},
        "advertised.listeners = PLAINTEXT://my-cluster-kafka-0.my-cluster-kafka-brokers:9092",
    ),
    "es-vm-max-map-count": (
        "elasticsearch-vm-max-map-count-after-node-reboot",
        "vm.max_map_count [65530] is too low",
        {},
        "bootstrap check [vm.max_map_count] passed",
    ),
    "data-dir-not-empty": (
        "postgres-initdb-lost-found-pgdata-kiamol",
        'initdb: directory "/var/lib/postgresql/data" exists but is not empty',
        {"path": "/var/lib/postgresql/data"},
        "PostgreSQL Database directory appears to contain a database; Skipping initialization",
    ),
    "mysql-datadir-has-files": (
        "mysql-initialize-data-directory-has-files-ebs",
        "--initialize specified but the data directory has files in it",
        {},
        "[Note] InnoDB: Using data directory /var/lib/mysql/",
    ),
    "runs-as-root": (
        "crunchy-pgo-second-cluster-initdb-as-root",
        "User ID is set to uid=0(root) gid=0(root) groups=0(root)",
        {},
        "User ID is set to uid=26(postgres) gid=26(postgres) groups=26(postgres).",
    ),
    "fs-permission-denied": (
        "node-pelias-pip-download-init-eacces-pvc",
        "EACCES: permission denied, mkdir '/data/whosonfirst'",
        {"path2": "/data/whosonfirst"},
        'psql: FATAL:  password authentication failed for user "postgres" (permission to log in denied)',
    ),
    "fs-access-denied-exception": (
        "elasticsearch-accessdenied-data-after-minikube-restart",
        "AccessDeniedException[/usr/share/elasticsearch/data/nodes]",
        {"path": "/usr/share/elasticsearch/data/nodes"},
        "AccessDeniedException: User: arn:aws:iam::123:role/x is not authorized to perform: s3:GetObject",
    ),
    "fs-read-only": (
        "nginx-unprivileged-read-only-fs-psp",
        '"/var/cache/nginx/proxy_temp" failed (30: Read-only file system)',
        {},
        "mounted /etc/nginx/conf.d read-only as configured",
    ),
    "fs-no-space": (
        "postgres-pg-wal-no-space-left-on-device",
        'could not write to file "pg_wal/xlogtemp.20": No space left on device',
        {},
        "checkpoint complete: wrote 3 buffers (0.0%); 0 WAL file(s) added, 0 removed, 1 recycled",
    ),
    "postgres-data-dir-perms": (
        "bitnami-postgresql-fsgroup-data-dir-group-access",
        'data directory "/opt/bitnami/postgresql/data" has group or world access',
        {"path": "/opt/bitnami/postgresql/data"},
        'data directory "/opt/bitnami/postgresql/data" is ready',
    ),
    "file-missing-on-volume": (
        "zookeeper-myid-missing-root-owned-volume",
        "/var/lib/zookeeper/data/myid file is missing",
        {"path": "/var/lib/zookeeper/data/myid"},
        "/var/lib/zookeeper/data/myid contains 1",
    ),
    "bus-error-shm": (
        "python-authentik-dev-shm-full-gunicorn-bus-error",
        '"error":"signal: bus error"',
        {},
        '"error":"signal: terminated","event":"gunicorn process died, restarting"',
    ),
    "removed-core-api-version": (
        "nifikop-pdb-policy-v1beta1-removed",
        'no matches for kind \\"PodDisruptionBudget\\" in version \\"policy/v1beta1\\"',
        {"kind": "PodDisruptionBudget", "version": "policy/v1beta1"},
        'no matches for kind "Certificate" in version "cert-manager.io/v1alpha2"',
    ),
    "missing-crd": (
        "cert-manager-cainjector-no-matches-for-kind-certificate",
        'no matches for kind "Certificate" in version "cert-manager.io/v1alpha2"',
        {"kind": "Certificate"},
        'Certificate "web-tls" is ready',
    ),
    "api-resource-not-found": (
        "cert-manager-cainjector-server-could-not-find-resource",
        "the server could not find the requested resource (get issuers.cert-manager.io)",
        {"what": "get issuers.cert-manager.io"},
        'issuers.cert-manager.io "letsencrypt" not found',
    ),
    "k8s-api-403": (
        "rabbitmq-peer-discovery-k8s-403-no-rbac",
        "Failed to get nodes from k8s - 403",
        {},
        "Failed to get nodes from k8s - 503",
    ),
    "cannot-allocate-memory": (
        "pgpool-fork-cannot-allocate-memory-limit",
        "fork() failed with reason: Cannot allocate memory",
        {},
        "fork a new child process with pid: 142",
    ),
    "kernel-oom-killer": (
        "mongodb-statefulset-oomkilled-768mi-limit",
        "conn5 invoked oom-killer",
        {},
        "oom_score_adj set to -998 for conn5",
    ),
}


@cache
def _lines(source: str) -> tuple[str, ...]:
    """Every log line, event message and kubelet message of a corpus case (or the lines quoted from a report)."""
    if source in PUBLIC:
        return PUBLIC[source]
    case = yaml.safe_load((CORPUS / f"{source}.yaml").read_text(encoding="utf-8"))
    found: list[str] = []
    for f in case["scenario"]["failures"]:
        found += str(f.get("logs_previous") or "").splitlines()
        found += [str(e["message"]) for e in f.get("events") or []]
        found += [str((f.get("waiting") or {}).get("message") or "")]
    return tuple(found)


def test_every_signature_has_a_real_incident_and_a_counter() -> None:
    assert sorted(ROWS) == sorted(s.id for s in BUILT_IN)
    assert len({s.id for s in BUILT_IN}) == len(BUILT_IN)


@pytest.mark.parametrize("sig", BUILT_IN, ids=[s.id for s in BUILT_IN])
def test_the_signature_matches_its_real_line_and_reads_its_names(sig: object) -> None:
    from runbooks.model import Signature

    assert isinstance(sig, Signature)
    source, fragment, groups, _ = ROWS[sig.id]
    line = next((line for line in _lines(source) if fragment in line), None)
    assert line is not None, f"{fragment!r} is not a line of {source}"
    m = compiled(sig.pattern).search(line)
    assert m is not None, f"{sig.id} does not match {line!r}"
    read = {k: v for k, v in m.groupdict().items() if v}
    assert {k: read.get(k) for k in groups} == groups
    # the cheap pre-filter must let the real line through, or the regex would never see it
    assert sig.triggers
    assert all(t == t.lower() for t in sig.triggers)
    assert any(t in line.lower() for t in sig.triggers), f"{sig.id}: no trigger in {line!r}"


@pytest.mark.parametrize("sig", BUILT_IN, ids=[s.id for s in BUILT_IN])
def test_the_signature_does_not_match_its_counter_example(sig: object) -> None:
    from runbooks.model import Signature

    assert isinstance(sig, Signature)
    counter = ROWS[sig.id][3]
    assert compiled(sig.pattern).search(counter) is None, f"{sig.id} matches {counter!r}"
