"""The `reports:` section of crashloop.yaml: when the hotspot report runs, what it shows, where its data comes from.

Kept apart from `bot.core.config` so the report settings read as one unit; `Config` embeds `ReportsConfig`.
Unknown keys are errors, like everywhere else in the configuration.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

if TYPE_CHECKING:  # imported when a trigger is built: a read-only `crashloop triage` never needs APScheduler
    from apscheduler.triggers.cron import CronTrigger

CRONTAB_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun")  # crontab: 0 and 7 are Sunday


def crontab_trigger(cron: str, timezone: str) -> CronTrigger:
    """A CronTrigger for a 5-field crontab line, with crontab's day-of-week numbers (0 = Sunday).

    APScheduler 3's `CronTrigger.from_crontab` reads a numeric day of week as 0 = Monday, so "0 9 * * 1" would fire
    on Tuesdays; numbers, ranges and steps of that field are therefore turned into day names first.
    """
    from apscheduler.triggers.cron import CronTrigger

    fields = cron.split()
    if len(fields) != 5:
        raise ValueError(f"expected 5 fields (minute hour day month weekday), got {len(fields)}")
    fields[4] = ",".join(_weekdays(part) for part in fields[4].split(","))
    return CronTrigger.from_crontab(" ".join(fields), timezone=ZoneInfo(timezone))


def _weekdays(part: str) -> str:
    """One comma-separated item of crontab's day-of-week field as APScheduler day names."""
    spec, _, step_text = part.partition("/")
    if not any(ch.isdigit() for ch in spec) and not step_text:
        return part  # "*", "mon", "mon-fri": names mean the same in both
    step = int(step_text) if step_text else 1
    if spec == "*":
        first, last = 0, 6
    elif "-" in spec:
        first, last = (_day_number(x) for x in spec.split("-", 1))
    else:
        first = _day_number(spec)
        last = 6 if step_text else first
    if not 0 <= first <= 7 or not 0 <= last <= 7 or first > last or step < 1:
        raise ValueError(f"bad day of week {part!r}")
    return ",".join(dict.fromkeys(CRONTAB_DAYS[d] for d in range(first, last + 1, step)))


def _day_number(text: str) -> int:
    if text.isdigit():
        return int(text)
    if text.lower() in CRONTAB_DAYS:
        return CRONTAB_DAYS.index(text.lower())
    raise ValueError(f"bad day of week {text!r}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class HotspotsConfig(_Strict):
    """The weekly restart-hotspot report."""

    enabled: bool = Field(True, description="post the report on schedule (on demand it always works)")
    cron: str = Field("0 9 * * 1", description="when to post: a 5-field crontab line (minute hour dom month dow)")
    timezone: str = Field("UTC", description="IANA time zone of `cron` and of the report's days")
    top: int = Field(10, ge=1, le=25, description="how many workloads the report lists")
    threshold: int = Field(5, ge=0, description="workloads with at most this many restarts in the period are left out")
    days: int = Field(7, ge=1, le=90, description="the period, compared with the same number of days before it")
    lease_minutes: int = Field(15, ge=1, le=24 * 60, description="a claimed run not completed after this is retried")
    max_attempts: int = Field(3, ge=1, le=20, description="how often one period's run is tried before giving up")
    catch_up_hours: int = Field(24, ge=0, le=24 * 7, description="a fire missed (down, not leader) is run this late")
    proposal_hours: int = Field(48, ge=1, le=24 * 14, description="how long a suggestion's button stays usable")

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        try:
            crontab_trigger(value, "UTC")
        except ValueError as exc:
            raise ValueError(f"not a crontab line ({exc}); e.g. '0 9 * * 1' is Mondays at 09:00") from exc
        return value

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like Europe/Berlin)") from exc
        return value


class SamplerConfig(_Strict):
    """The restart sampler: restart counts from the cluster itself, for environments without Prometheus."""

    enabled: bool = Field(True, description="sample restart counts (only runs when prometheus_url is not set)")
    interval_seconds: float = Field(300, ge=1, le=3600, description="how often pods are listed")
    retention_days: int = Field(35, ge=2, le=400, description="samples older than this are pruned")


class ReportsConfig(_Strict):
    """Everything about reports."""

    hotspots: HotspotsConfig = Field(default_factory=HotspotsConfig)
    sampler: SamplerConfig = Field(default_factory=SamplerConfig)
    prometheus_url: str | None = Field(None, description="Prometheus HTTP API base URL; omitted = the bot's own data")
    prometheus_timeout_seconds: float = Field(30, gt=0, le=300, description="timeout of each PromQL query")

    @field_validator("prometheus_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r} is not an http(s) URL")
        return value.rstrip("/") if value else value
