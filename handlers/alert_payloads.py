"""The webhook bodies the bot accepts: Alertmanager webhook v4, and CubeAPM's Alertmanager-compatible one.

Unknown fields are tolerated (newer Alertmanager versions add some); what the bot relies on is validated and
every problem is reported by its JSON path. CubeAPM may omit `version` and `groupKey`, adds `cubeSampleLog`,
`cubeImageURL`, `groupKeyHash`, `incidentTime`, `notifyTime`, and may label with OpenTelemetry attribute names.

The envelope is validated as a whole; each alert on its own, so one bad alert (a naive or out-of-range time, a
NUL or a lone surrogate in an identifier) is reported by its index while the good alerts of the same delivery are
stored. Free text (annotations, sample logs) keeps its content: characters no database can store are replaced.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from runbooks.alerts import Alert, label_fingerprint

Scalar = str | int | float | bool
REPLACEMENT = "\ufffd"


def unstorable(text: str) -> str | None:
    """Why `text` cannot be an identifier in SQL (a NUL, or a lone surrogate UTF-8 cannot encode), else None."""
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode text)"
    return None


def storable(text: str) -> str:
    """Free text with NULs and lone surrogates replaced by U+FFFD."""
    if unstorable(text) is None:
        return text
    return "".join(REPLACEMENT if c == "\x00" or "\ud800" <= c <= "\udfff" else c for c in text)


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value.isoformat()} is outside the range of representable times") from None


class WebhookAlert(BaseModel):
    """One entry of `alerts[]`."""

    model_config = ConfigDict(extra="allow")

    status: Literal["firing", "resolved"]
    labels: dict[str, Scalar]
    annotations: dict[str, Scalar] = Field(default_factory=dict)
    startsAt: AwareDatetime | None = None
    endsAt: AwareDatetime | None = None
    generatorURL: str | None = None
    fingerprint: str | None = None
    cubeSampleLog: str | None = None

    @field_validator("labels")
    @classmethod
    def _has_labels(cls, value: dict[str, Scalar]) -> dict[str, Scalar]:
        if not value:
            raise ValueError("an alert needs labels")
        return value

    @field_validator("startsAt", "endsAt")
    @classmethod
    def _in_range(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @model_validator(mode="after")
    def _identifiers_storable(self) -> WebhookAlert:
        named = [("fingerprint", self.fingerprint), ("generatorURL", self.generatorURL)]
        named += [(f"labels.{k}", f"{k}{v}") for k, v in self.labels.items()]
        for where, text in named:
            problem = unstorable(text) if isinstance(text, str) else None
            if problem:
                raise ValueError(f"{storable(where)} {problem}")
        return self


class WebhookPayload(BaseModel):
    """A webhook delivery; `alerts` are validated one by one by `read`."""

    model_config = ConfigDict(extra="allow")

    version: str | None = None
    groupKey: str | None = None
    groupKeyHash: str | None = None
    truncatedAlerts: int = 0
    status: str | None = None
    receiver: str | None = None
    alerts: list[dict[str, Any]] = Field(min_length=1, max_length=10_000)
    cubeSampleLog: str | None = None
    cubeImageURL: str | None = None

    @field_validator("version")
    @classmethod
    def _v4(cls, value: str | None) -> str | None:
        if value is not None and value != "4":
            raise ValueError(f"unsupported webhook version {value!r}: this endpoint speaks Alertmanager webhook v4")
        return value


@dataclass(frozen=True)
class Rejected:
    """An alert of a delivery that was not stored, and why."""

    index: int
    problem: str


@dataclass(frozen=True)
class Delivery:
    """A delivery read: its good alerts, normalised, and the rejected ones."""

    payload: WebhookPayload
    alerts: list[Alert]
    rejected: list[Rejected]


def parse(data: object) -> WebhookPayload:
    """The validated envelope; ValidationError names each problem."""
    return WebhookPayload.model_validate(data)


def describe(exc: ValidationError, prefix: str = "") -> str:
    problems = []
    for err in exc.errors()[:10]:
        where = ".".join(str(p) for p in (*((prefix,) if prefix else ()), *err["loc"])) or "body"
        problems.append(f"{storable(where)}: {storable(err['msg'].removeprefix('Value error, '))}")
    return "; ".join(problems)


def read(data: object, source: str) -> Delivery:
    """The delivery: envelope errors raise ValidationError; alert errors are collected per alert."""
    payload = parse(data)
    good: list[Alert] = []
    rejected: list[Rejected] = []
    for index, raw in enumerate(payload.alerts):
        try:
            alert = WebhookAlert.model_validate(raw)
        except ValidationError as exc:
            rejected.append(Rejected(index, describe(exc, f"alerts.{index}")))
            continue
        good.append(_normalize(payload, alert, source))
    return Delivery(payload, good, rejected)


def normalize(payload: WebhookPayload, source: str) -> list[Alert]:
    """The payload's valid alerts in the bot's own shape (see `read` for the rejected ones)."""
    return read(payload.model_dump(), source).alerts


def _normalize(payload: WebhookPayload, a: WebhookAlert, source: str) -> Alert:
    labels = {k: str(v) for k, v in a.labels.items()}
    group_key = payload.groupKey or payload.groupKeyHash
    sample_log = a.cubeSampleLog or payload.cubeSampleLog
    return Alert(
        source=source,
        status=a.status,
        name=labels.get("alertname", "unnamed"),
        fingerprint=a.fingerprint or label_fingerprint(labels),
        starts_at=a.startsAt,
        ends_at=a.endsAt if a.endsAt and a.endsAt.year > 1 else None,
        labels=labels,
        annotations={storable(k): storable(str(v)) for k, v in a.annotations.items()},
        generator_url=a.generatorURL,
        group_key=storable(group_key) if group_key else None,
        sample_log=storable(sample_log) if sample_log else None,
    )
