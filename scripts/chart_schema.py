"""Writes deploy/helm/crashloop-bot/values.schema.json: the chart's values, strictly typed, no unknown keys.

The `config` value (crashloop.yaml) is checked with the bot's own schema, exported from its pydantic models
(bot/core/config.py `Config`), so `helm install` refuses a misspelt config key exactly as the bot would at start.

    python scripts/chart_schema.py          # rewrite values.schema.json
    python scripts/chart_schema.py --check  # exit 1 if it is out of date (tests/deploy runs this check)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TARGET = REPO / "deploy" / "helm" / "crashloop-bot" / "values.schema.json"

Schema = dict[str, Any]

ALERTMANAGER_KEYS = (
    "CRASHLOOP_ALERTMANAGER_TOKEN",
    "CRASHLOOP_ALERTMANAGER_USERNAME",
    "CRASHLOOP_ALERTMANAGER_PASSWORD",
)


def strict(properties: dict[str, Schema], *, required: tuple[str, ...] = ()) -> Schema:
    """An object with exactly these keys."""
    schema: Schema = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


STRING: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
PORT: Schema = {"type": "integer", "minimum": 1, "maximum": 65535}
QUANTITY: Schema = {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?(m|k|Ki|M|Mi|G|Gi|T|Ti)?$"}
LABELS: Schema = {"type": "object", "additionalProperties": {"type": "string"}}
FREE_OBJECT: Schema = {"type": "object"}
DNS_LABEL: Schema = {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", "maxLength": 63}
DNS_SUBDOMAIN: Schema = {
    "type": "string",
    "pattern": r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$",
    "maxLength": 253,
}


def _resources() -> Schema:
    amounts = strict({"cpu": {"type": ["string", "number"]}, "memory": QUANTITY})
    return strict({"requests": amounts, "limits": amounts})


def chart_values(config_schema: Schema) -> Schema:
    """The schema of values.yaml; `config_schema` is the bot's Config schema (without its $defs)."""
    return strict(
        {
            "replicaCount": {"type": "integer", "minimum": 1, "maximum": 10},
            "image": strict(
                {
                    "repository": {"type": "string", "minLength": 1},
                    "tag": STRING,
                    "pullPolicy": {"enum": ["Always", "IfNotPresent", "Never"]},
                },
                required=("repository",),
            ),
            "imagePullSecrets": {"type": "array", "items": strict({"name": STRING}, required=("name",))},
            "nameOverride": STRING,
            "fullnameOverride": STRING,
            "slack": strict({"socketMode": BOOL}),
            "secrets": strict({"existingSecret": {**DNS_LABEL, "minLength": 1}}, required=("existingSecret",)),
            # Silence: the Alertmanager auth keys `secrets.existingSecret` holds (mounted as files)
            "alertmanager": strict(
                {"secretKeys": {"type": "array", "items": {"enum": list(ALERTMANAGER_KEYS)}, "uniqueItems": True}}
            ),
            "database": strict(
                {
                    "type": {"enum": ["sqlite", "postgresql"]},
                    "sqlite": strict({"size": QUANTITY, "storageClassName": STRING}),
                    "postgresql": strict(
                        {
                            "urlSecret": strict({"name": DNS_LABEL, "key": STRING}, required=("name", "key")),
                            "port": PORT,
                        }
                    ),
                },
                required=("type",),
            ),
            "leaderElection": strict({"leaseName": DNS_LABEL}),
            "rbac": strict(
                {
                    "actionNamespaces": {"type": "array", "items": DNS_LABEL, "uniqueItems": True},
                    "admissionPolicy": strict(
                        {
                            "enabled": BOOL,
                            # ServiceAccount names (DNS subdomains): they are written into a CEL list literal.
                            "allowedServiceAccounts": {"type": "array", "items": DNS_SUBDOMAIN, "uniqueItems": True},
                        },
                        required=("enabled", "allowedServiceAccounts"),
                    ),
                }
            ),
            "config": config_schema,
            "resources": _resources(),
            "service": strict({"port": PORT}),
            "podDisruptionBudget": strict({"enabled": BOOL}),
            "networkPolicy": strict(
                {
                    "enabled": BOOL,
                    "apiServerPorts": {"type": "array", "items": PORT, "minItems": 1},
                    "alertmanagerPorts": {"type": "array", "items": PORT, "minItems": 1},
                    "ingressFrom": {"type": "array", "items": FREE_OBJECT},
                }
            ),
            "metrics": strict(
                {
                    "serviceMonitor": strict({"enabled": BOOL, "interval": STRING, "labels": LABELS}),
                    "prometheusRule": strict({"enabled": BOOL, "labels": LABELS}),
                }
            ),
            "podAnnotations": LABELS,
            "podLabels": LABELS,
            "nodeSelector": LABELS,
            "tolerations": {"type": "array", "items": FREE_OBJECT},
            "affinity": FREE_OBJECT,
            # helm passes this to subcharts' and library values; tolerated, never used.
            "global": FREE_OBJECT,
        }
    )


def build() -> Schema:
    from bot.core.config import Config

    config = Config.model_json_schema()
    defs = config.pop("$defs", {})
    # Chart-only rule: more than one replica needs PostgreSQL (SQLite: one writer on one volume).
    several_need_postgresql = {
        "if": {"properties": {"replicaCount": {"type": "integer", "minimum": 2}}, "required": ["replicaCount"]},
        "then": {"properties": {"database": {"properties": {"type": {"const": "postgresql"}}}}},
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "crashloop-bot chart values (generated by scripts/chart_schema.py)",
        **chart_values(config),
        **several_need_postgresql,
        "$defs": defs,
    }


def render() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is out of date: run `python scripts/chart_schema.py`", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.exit(main(sys.argv[1:]))
