"""The webhook bodies the bot accepts: Alertmanager webhook v4, and CubeAPM's Alertmanager-compatible one.

Unknown fields are tolerated (newer Alertmanager versions add some); what the bot relies on is validated and
every problem is reported by its JSON path. CubeAPM may omit `version` and `groupKey`, adds `cubeSampleLog`,
`cubeImageURL`, `groupKeyHash`, `incidentTime`, `notifyTime`, and may label with OpenTelemetry attribute names.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from runbooks.alerts import Alert, label_fingerprint

Scalar = str | int | float | bool


class WebhookAlert(BaseModel):
    """One entry of `alerts[]`."""

    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, Scalar]
    annotations: dict[str, Scalar] = Field(default_factory=dict)
    startsAt: datetime | None = None
    endsAt: datetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    cubeSampleLog: str | None = None

    @field_validator("labels")
    @classmethod
    def _has_labels(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        if not value:
            raise ValueError("an alert needs labels")
        return value


class WebhookPayload(BaseModel):
    """A webhook delivery."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str | None = None
    groupKeyHash: str | None = None
    truncatedAlerts: int = 0
    status: str | None = None
    receiver: str | None = None
    alerts: list[WebhookAlert] = Field(min_length=1, max_length=10_000)
    cubeSampleLog: str | None = None
    cubeImageURL: str | None = None

    @field_validator("version")
    @classmethod
    def _v4(cls, value: str | None) -> str | None:
        if value is not None and value != "4":
            raise ValueError(f"unsupported webhook version {value!r}: this endpoint speaks Alertmanager webhook v4")
        return value


def parse(data: object) -> WebhookPayload:
    """The validated payload; ValidationError names each problem."""
    return WebhookPayload.model_validate(data)


def describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in err["loc"]) or "body"
        problems.append(f"{where}: {err['msg'].removeprefix('Value error, ')}")
    return "; ".join(problems)


def normalize(payload: WebhookPayload, source: str) -> list[Alert]:
    """The payload's alerts in the bot's own shape."""
    out = []
    for a in payload.alerts:
        labels = {k: str(v) for k, v in a.labels.items()}
        out.append(
            Alert(
                source=source,
                status=a.status,
                name=labels.get("alertname", "unnamed"),
                fingerprint=a.fingerprint or label_fingerprint(labels),
                starts_at=a.startsAt,
                ends_at=a.endsAt if a.endsAt and a.endsAt.year > 1 else None,
                labels=labels,
                annotations={k: str(v) for k, v in a.annotations.items()},
                generator_url=a.generatorURL,
                group_key=payload.groupKey or payload.groupKeyHash,
                sample_log=a.cubeSampleLog or payload.cubeSampleLog,
            )
        )
    return out
