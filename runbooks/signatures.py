"""The built-in signature library: failure lines seen in real crash loops, what they mean, and what to do first.

Each signature is data (`runbooks.model.Signature`): a regex over log lines, event messages and the kubelet's
status messages; the runbook branch it means; a sentence saying what it means (filled from the pattern's named
groups); and the remedy with its parameters read from the line (`{host}`, `{port}`, `{name}`…). They are general
signals — each one is tested in `tests/unit/test_signatures.py` against a line from a real incident of the corpus
and against a counter-example it must not match. Operators add their own in crashloop.yaml (`triage.signatures`);
those are matched first. Order matters only between signatures of equal score: earlier wins.
"""

from __future__ import annotations

from runbooks.model import Branch, RemedyId, Signature

_N = Branch.NETWORKING_DEPS
_A = Branch.APP_ENV
_I = Branch.IMAGE_CONFIG
_R = Branch.RBAC_MOUNTS
_M = Branch.RESOURCES
_HOST = (("host", "{host}"), ("port", "{port}"))
_Q = r"\\?[\"'`]"  # a quote, possibly escaped by a JSON log encoder

BUILT_IN: tuple[Signature, ...] = (
    # --- 1. DNS, TLS and certificates towards a dependency -------------------------------------------------------
    Signature(
        "dns-lookup-no-such-host",
        r"lookup (?P<host>[\w.-]+)(?: on [\w.:\[\]]+)?: no such host",
        _N,
        "DNS lookup of {host} failed (no such host)",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "nginx-host-not-found",
        r'host not found in (?P<what>upstream|resolver) "(?P<host>[\w.-]+)(?::(?P<port>\d+))?"',
        _N,
        "nginx cannot resolve its {what} {host} at start (the name does not exist in DNS)",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "jvm-unknown-host",
        r"UnknownHostException: (?P<host>[\w.-]+)",
        _N,
        "the JVM cannot resolve {host}",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "node-getaddrinfo",
        r"getaddrinfo (?:ENOTFOUND|EAI_AGAIN) (?P<host>[\w.-]+)(?: [\w.-]+:(?P<port>\d+))?",
        _N,
        "Node.js cannot resolve {host}",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "name-or-service-not-known",
        r"(?:connecting to|connect to|host) (?P<host>[\w.-]+)(?::(?P<port>\d+))?\W+(?:Name or service not known|"
        r"Temporary failure in name resolution|Name does not resolve)",
        _N,
        "{host} does not resolve",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "node-econnrefused",
        r"connect ECONNREFUSED (?P<host>[\w.-]+):(?P<port>\d+)",
        _N,
        "{host}:{port} refuses connections (the dependency is down, not ready yet, or on another port)",
        RemedyId.NETCHECK,
        _HOST,
        0.86,
    ),
    Signature(
        "dial-connection-refused",
        r"dial tcp (?P<host>[\w.-]+):(?P<port>\d+): (?:connect: |getsockopt: )?connection refused",
        _N,
        "{host}:{port} refuses connections (the dependency is down, not ready yet, or on another port)",
        RemedyId.NETCHECK,
        _HOST,
        0.86,
    ),
    Signature(
        "connect-timeout-endpoint",
        r"dial tcp (?P<host>[\w.-]+):(?P<port>\d+): (?:i/o timeout|connect: connection timed out)",
        _N,
        "{host}:{port} does not answer (a NetworkPolicy, a firewall, or the dependency is down)",
        RemedyId.NETCHECK,
        _HOST,
        0.86,
    ),
    Signature(
        "x509-unknown-authority",
        r"x509: certificate signed by unknown authority",
        _N,
        "TLS to the dependency fails: its certificate is signed by a CA the container does not trust",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "x509-invalid-for-host",
        r"x509: (?:cannot validate certificate for (?P<host>[\w.:-]+?)(?: because|$)|certificate is valid for|"
        r"certificate has expired)",
        _N,
        "TLS to the dependency fails: its certificate does not match the name used, or has expired",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "tls-verify-failed",
        r"certificate verify failed|CERTIFICATE_VERIFY_FAILED|unable to get (?:local )?issuer certificate",
        _N,
        "TLS verification of a dependency failed (missing CA bundle, or a custom CA)",
        RemedyId.NETCHECK,
        _HOST,
    ),
    Signature(
        "coredns-forwarding-loop",
        r"plugin/loop: .*loop detected",
        _N,
        "CoreDNS forwards to itself (a DNS forwarding loop, e.g. the node's resolv.conf points at 127.0.0.53)",
    ),
    Signature(
        "zookeeper-connect-timeout",
        r"Unable to connect to zookeeper server",
        _N,
        "the broker cannot reach ZooKeeper in time",
        RemedyId.NETCHECK,
        _HOST,
    ),
    # --- 2. configuration errors that name a setting -------------------------------------------------------------
    Signature(
        "spring-placeholder",
        r"Could not resolve placeholder '(?P<name>[\w.-]+)'",
        _A,
        "the configuration refers to {name}, which is not set",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "shell-unbound-variable",
        r"(?P<name>(?-i:[A-Za-z_][A-Za-z0-9_]*)): unbound variable",
        _A,
        "the entrypoint script needs variable {name}, which is not set",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "envconfig-required-key",
        r"required key (?P<name>(?-i:[A-Z_][A-Z0-9_]*)) missing value",
        _A,
        "required variable {name} is not set",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "django-setting-empty",
        r"The (?P<name>(?-i:[A-Z][A-Z0-9_]+)) setting must not be empty",
        _A,
        "setting {name} is empty",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "django-improperly-configured",
        r"ImproperlyConfigured: .*?\b(?P<name>(?-i:[A-Z][A-Z0-9]*_[A-Z0-9_]+))\b",
        _A,
        "the framework is improperly configured: {name}",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "rails-secret-key-base",
        r"Missing [`'](?P<setting>secret_key_base)[`'] for '[\w-]+' environment",
        _A,
        "Rails has no secret_key_base: set SECRET_KEY_BASE",
        RemedyId.SET_ENV,
        (("name", "SECRET_KEY_BASE"),),
        0.93,
    ),
    Signature(
        "pydantic-settings-validation",
        r"\d+ validation errors? for \w*Settings",
        _A,
        "the app's settings fail validation: a variable holds a value of the wrong type",
        RemedyId.SET_ENV,
        (("name", "{name}"),),
        0.93,
    ),
    Signature(
        "dotnet-inotify-limit",
        r"configured user limit \(\d+\) on the number of inotify instances has been reached",
        _A,
        "the app watches its config files and the node's inotify limit is exhausted: turn reload-on-change off",
        RemedyId.SET_ENV,
        (("name", "DOTNET_HOSTBUILDER__RELOADCONFIGONCHANGE"), ("value_hint", "false")),
    ),
    # --- 3. missing module / package / class: the image, never the network ----------------------------------------
    Signature(
        "python-module-not-found",
        r"(?:ModuleNotFoundError|ImportError): No module named '?(?P<name>[\w.]+)'?",
        _I,
        "Python module {name} is not installed in the image",
        score=0.93,
    ),
    Signature(
        "node-cannot-find-module",
        r"Cannot find module '(?P<name>[^']+)'",
        _I,
        "Node.js module {name} is not in the image",
        score=0.93,
    ),
    Signature(
        "ruby-gem-not-found",
        r"Bundler::GemNotFound|Could not find gem '(?P<name>[^']+)'|Could not find (?P<gem>[\w-]+-\d[\w.]*), ",
        _I,
        "a Ruby gem the Gemfile needs is not installed in the image",
        score=0.93,
    ),
    Signature(
        "jvm-class-not-found",
        r"(?:ClassNotFoundException|NoClassDefFoundError): (?P<name>[\w.$/]+)",
        _I,
        "class {name} is not on the image's classpath",
        RemedyId.SET_IMAGE,
        score=0.93,
    ),
    Signature(
        "jvm-main-class",
        r"Could not find or load main class (?P<name>[\w.$]+)",
        _I,
        "the image's entrypoint names main class {name}, which is not in the image",
        RemedyId.SET_IMAGE,
        score=0.93,
    ),
    Signature(
        "dotnet-app-not-found",
        r"Could not execute because the application was not found|The application to execute does not exist",
        _I,
        "the image's entrypoint names an assembly that is not in the image",
        RemedyId.SET_IMAGE,
        score=0.93,
    ),
    Signature(
        "exec-format-error",
        r"exec format error",
        _I,
        "the image is built for another CPU architecture than the node's",
        RemedyId.SET_IMAGE,
        score=0.95,
    ),
    Signature(
        "bad-interpreter",
        r"(?P<interp>\S+): bad interpreter",
        _I,
        "a script's interpreter line is wrong ({interp}; a trailing ^M means Windows line endings)",
        score=0.93,
    ),
    # --- 4. configuration files and bootstrap checks of well-known servers ----------------------------------------
    Signature(
        "nginx-directive",
        r"(?:unknown|invalid number of arguments in) (?:directive )?\"(?P<directive>[^\"]+)\"(?: directive)?"
        r"(?: in (?P<file>\S+))?",
        _I,
        "nginx rejects directive {directive} in its configuration file",
        score=0.93,
    ),
    Signature(
        "redis-bad-directive",
        r"Bad directive or wrong number of arguments",
        _I,
        "Redis rejects a line of its configuration file",
        score=0.93,
    ),
    Signature(
        "envoy-bootstrap-config",
        r"error initializing configuration '(?P<file>[^']+)'",
        _I,
        "Envoy cannot load its bootstrap configuration {file}",
        score=0.93,
    ),
    Signature(
        "grafana-provisioning",
        r"(?:provisioning error|Failed to provision)[^\n]*?(?P<detail>(?:config is invalid|Only one)[^\"]*)",
        _I,
        "Grafana rejects a provisioning file: {detail}",
        score=0.93,
    ),
    Signature(
        "kafka-config-requirement",
        r"requirement failed: (?P<setting>[\w.]+) (?P<detail>cannot|must)[^.]*",
        _I,
        "Kafka rejects its configuration: {setting} {detail} …",
        RemedyId.SET_IMAGE,
        score=0.93,
    ),
    Signature(
        "es-vm-max-map-count",
        r"vm\.max_map_count \[\d+\] is too low",
        _A,
        "Elasticsearch's bootstrap check fails: the node's vm.max_map_count is too low (a sysctl on the node)",
        score=0.93,
    ),
    Signature(
        "data-dir-not-empty",
        r"initdb: (?:error: )?directory \"(?P<path>[^\"]+)\" exists but is not empty|"
        r"It contains a lost\+found directory",
        _A,
        "PostgreSQL's data directory is the volume's root, which holds lost+found: point PGDATA at a subdirectory",
        RemedyId.SET_ENV,
        (("name", "PGDATA"),),
        0.93,
    ),
    Signature(
        "mysql-datadir-has-files",
        r"--initialize specified but the data directory has files in it",
        _A,
        "MySQL will not initialise a data directory that is not empty (lost+found on a fresh volume?)",
        score=0.93,
    ),
    Signature(
        "runs-as-root",
        r"User ID is set to uid=0\(root\)|(?:root|superuser) (?:execution|operation)[^\n]*not permitted|"
        r"running as root is not (?:allowed|supported)|cannot be run as root",
        _A,
        "the server refuses to run as root: the pod runs as uid 0",
        score=0.88,
    ),
    # --- 5. volumes: permissions, read-only, full ---------------------------------------------------------------
    Signature(
        "fs-permission-denied",
        r"(?P<path>/[\w./@-]+)[’'\"]?:? (?:Permission denied|Operation not permitted)|"
        r"(?:Permission denied|EACCES: permission denied|Operation not permitted)[,:]? [\w ]*?[‘'\"]?"
        r"(?P<path2>/[\w./@-]+)|"
        r"(?:mkdir|open|create dir)[: ]+(?P<path3>/[\w./@-]+): permission denied",
        _R,
        "the container may not write {path} (volume ownership vs. runAsUser/fsGroup)",
        score=0.9,
    ),
    Signature(
        "fs-access-denied-exception",
        r"AccessDeniedException\[?:? ?(?P<path>/[\w./@-]+)",
        _R,
        "the JVM is denied access to {path} (volume ownership vs. runAsUser/fsGroup)",
        score=0.9,
    ),
    Signature(
        "fs-read-only",
        r"Read-only file system",
        _R,
        "the container writes to a read-only file system (readOnlyRootFilesystem, or a readOnly mount)",
        score=0.9,
    ),
    Signature(
        "fs-no-space",
        r"No space left on device|Disk quota exceeded",
        _R,
        "the volume is full",
        score=0.92,
    ),
    Signature(
        "postgres-data-dir-perms",
        r"data directory \"(?P<path>[^\"]+)\" has (?:group or world access|wrong ownership|invalid permissions)",
        _R,
        "PostgreSQL refuses data directory {path}: its permissions (set by fsGroup on the volume) are too open",
        score=0.92,
    ),
    Signature(
        "file-missing-on-volume",
        r"(?P<path>/[\w./-]+) file is missing",
        _R,
        "{path} is missing: the volume was not initialised (often: the init step could not write to it)",
        score=0.88,
    ),
    Signature(
        "bus-error-shm",
        r"signal: bus error|Bus error \(core dumped\)",
        _R,
        "bus error: usually shared memory (/dev/shm) is full or too small — mount a larger memory emptyDir there",
        score=0.88,
    ),
    # --- 6. a missing CRD or API --------------------------------------------------------------------------------
    Signature(
        "removed-core-api-version",
        rf"no matches for kind {_Q}(?P<kind>\w+){_Q} in version {_Q}(?P<version>(?:policy|extensions|batch|apps|"
        r"autoscaling|networking\.k8s\.io|rbac\.authorization\.k8s\.io|storage\.k8s\.io|apiextensions\.k8s\.io|"
        r"admissionregistration\.k8s\.io)/v\d+\w*)",
        _I,
        "the image uses API {version} {kind}, which this cluster no longer serves: run a newer release",
        RemedyId.SET_IMAGE,
        score=0.94,
    ),
    Signature(
        "missing-crd",
        rf"no matches for kind {_Q}(?P<kind>\w+){_Q}",
        _I,
        "the cluster has no {kind} kind: its CustomResourceDefinition is not installed (or not at that version)",
        score=0.93,
    ),
    Signature(
        "api-resource-not-found",
        r"the server could not find the requested resource(?: \((?P<what>[^)]+)\))?",
        _I,
        "the API server does not serve a resource the app needs (a CRD or API version missing)",
        score=0.92,
    ),
    # --- 11. RBAC answers that name no user (the full `forbidden: User …` form is read by rbac_mounts) -------------
    Signature(
        "k8s-api-403",
        r"(?:from k8s|kubernetes|k8s api|apiserver)\W[^\n]*\b403\b|Forbidden!Configured service account",
        _R,
        "the Kubernetes API answers 403 Forbidden to the pod's service account",
        RemedyId.SERVICE_ACCOUNT,
        score=0.88,
    ),
    # --- memory that is not an OOMKilled reason ------------------------------------------------------------------
    Signature(
        "cannot-allocate-memory",
        r"Cannot allocate memory|fork\(\) failed",
        _M,
        "the process cannot allocate memory under its limit",
        RemedyId.BUMP_MEMORY,
        score=0.9,
    ),
    Signature(
        "kernel-oom-killer",
        r"invoked oom-killer|Memory cgroup out of memory: Killed process",
        _M,
        "the kernel's OOM killer ran",
        RemedyId.BUMP_MEMORY,
        score=0.9,
    ),
)
