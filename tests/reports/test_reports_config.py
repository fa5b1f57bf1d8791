"""The `reports:` configuration: defaults, validation, and crontab lines meaning what crontab means."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from bot.core.report_settings import HotspotsConfig, ReportsConfig, crontab_trigger


def test_defaults() -> None:
    cfg = ReportsConfig()
    assert (cfg.hotspots.cron, cfg.hotspots.timezone, cfg.hotspots.top, cfg.hotspots.days) == (
        "0 9 * * 1",
        "UTC",
        10,
        7,
    )
    assert (cfg.sampler.enabled, cfg.sampler.interval_seconds, cfg.prometheus_url) == (True, 300, None)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"hotspots": {"cron": "every monday"}}, "not a crontab line"),
        ({"hotspots": {"cron": "0 9 * * 9"}}, "not a crontab line"),
        ({"hotspots": {"timezone": "Mars/Olympus"}}, "unknown time zone"),
        ({"hotspots": {"top": 0}}, "greater than or equal to 1"),
        ({"hotspots": {"topp": 3}}, "Extra inputs are not permitted"),
        ({"prometheus_url": "prometheus:9090"}, "is not an http(s) URL"),
        ({"sampler": {"interval_seconds": 0}}, "greater than or equal to 1"),
    ],
)
def test_mistakes_are_refused(values: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ReportsConfig.model_validate(values)


def test_the_prometheus_url_loses_its_trailing_slash() -> None:
    assert ReportsConfig(prometheus_url="http://prometheus:9090/").prometheus_url == "http://prometheus:9090"


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        ("0 9 * * 1", datetime(2026, 11, 30, 9, tzinfo=UTC)),  # Monday, as in crontab (APScheduler alone: Tuesday)
        ("0 9 * * 0", datetime(2026, 11, 29, 9, tzinfo=UTC)),  # Sunday
        ("0 9 * * 7", datetime(2026, 11, 29, 9, tzinfo=UTC)),  # Sunday, too
        ("30 6 * * 1-5", datetime(2026, 11, 26, 6, 30, tzinfo=UTC)),  # weekdays: Thursday is next
        ("0 9 * * 6,0", datetime(2026, 11, 28, 9, tzinfo=UTC)),  # Saturday or Sunday
        ("0 9 * * mon", datetime(2026, 11, 30, 9, tzinfo=UTC)),
        ("0 9 * * */3", datetime(2026, 11, 28, 9, tzinfo=UTC)),  # Sun, Wed, Sat: after Wednesday noon, Saturday
    ],
)
def test_crontab_day_of_week_means_what_crontab_means(cron: str, expected: datetime) -> None:
    wednesday_noon = datetime(2026, 11, 25, 12, tzinfo=UTC)
    assert crontab_trigger(cron, "UTC").get_next_fire_time(None, wednesday_noon) == expected
    assert HotspotsConfig(cron=cron).cron == cron


def test_the_schedule_runs_in_its_time_zone() -> None:
    trigger = crontab_trigger("0 9 * * 1", "Europe/Berlin")
    assert trigger.get_next_fire_time(None, datetime(2026, 11, 25, tzinfo=UTC)) == datetime(2026, 11, 30, 8, tzinfo=UTC)
