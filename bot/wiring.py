"""The long-lived pieces of a running bot, handed to the HTTP and Slack handlers as one object.

Built and torn down by `bot.app`'s cleanup contexts; handlers get it from the aiohttp application under the
typed key `SERVICES` (no globals).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.guard.access import AccessControl
from bot.guard.flow import Guard
from bot.reports.service import ReportContext
from bot.slack.client import SlackOut
from bot.store import Store
from bot.store.audit import AuditLog
from bot.triage.run import Triager


@dataclass
class Services:
    """Everything a handler may use."""

    config: Config
    settings: Settings
    metrics: Metrics
    store: Store
    triager: Triager
    slack: SlackOut
    access: AccessControl
    audit: AuditLog
    guard: Guard
    wake_worker: Callable[[], None] = field(default=lambda: None)
    retriage: Callable[[int], Awaitable[Any]] | None = None  # the incident queue's re-triage, once it runs

    def report_context(self) -> ReportContext:
        """What the hotspot report needs, from these services."""
        return ReportContext(
            config=self.config,
            store=self.store,
            audit=self.audit,
            triager=self.triager,
            slack=self.slack,
            metrics=self.metrics,
            reports=self.config.reports,
        )


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
