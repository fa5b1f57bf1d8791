"""The one builder of the long-lived services the bot and the terminal share, each built whole, in order.

Nothing is set on a service after it is built: what a service needs is built before it and handed to its
constructor. The order breaks the only cycle there was (the guard tells the incident queue to re-triage; the
queue used to be told to resume recovery checks): the queue is built first, the guard's Slack notifier gets
its `retriage`, and resuming recovery checks is the app's own periodic task (`bot.app`). The terminal builds
the same core (store, audit log, triager, executor) and a guard with its own notifier (`build_cli_guard`).
Handlers get `Services` from the aiohttp application under the typed key `SERVICES` (no globals).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.alertmanager.environments import Alertmanagers, auth_from
from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.guard.access import AccessControl, Directory
from bot.guard.executor import Executor
from bot.guard.flow import Guard, guard_settings
from bot.guard.notifier import Notifier
from bot.incidents.ownership import Ownership
from bot.incidents.queue import IncidentWorker, WorkerSettings
from bot.kube.leader import Leader, should_elect
from bot.reports.service import ReportContext
from bot.slack.client import SlackOut, make_client
from bot.slack.directory import SlackDirectory
from bot.slack.notifier import SlackNotifier
from bot.store import Store
from bot.store.audit import AuditLog, audit_log_for
from bot.triage.run import Triager


@dataclass(frozen=True)
class Core:
    """What every door needs: configuration, SQL, the audit log, the cluster."""

    config: Config
    settings: Settings
    metrics: Metrics
    store: Store
    audit: AuditLog
    triager: Triager
    executor: Executor
    alertmanagers: Alertmanagers


@dataclass(frozen=True)
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
    leader: Leader
    worker: IncidentWorker
    ownership: Ownership
    alertmanagers: Alertmanagers

    def wake_worker(self) -> None:
        self.worker.wake()

    async def retriage(self, incident_id: int) -> Any:
        return await self.worker.retriage(incident_id)

    def report_context(self) -> ReportContext:
        """What the hotspot report needs, from these services; scheduled work runs on the leader only."""
        leader = self.leader
        return ReportContext(
            config=self.config,
            store=self.store,
            audit=self.audit,
            triager=self.triager,
            slack=self.slack,
            metrics=self.metrics,
            reports=self.config.reports,
            is_leader=lambda: leader.is_leader,
        )


def build_core(config: Config, settings: Settings, metrics: Metrics | None = None) -> Core:
    store = Store(settings.database_url)
    triager = Triager(config)
    audit = audit_log_for(store.engine, settings)
    alertmanagers = Alertmanagers(config, auth_from(settings))
    return Core(config, settings, metrics or Metrics(), store, audit, triager, Executor(triager), alertmanagers)


def build_guard(
    core: Core,
    *,
    notifier: Notifier,
    directory: Directory | None,
    signing_secret: str,
    is_leader: Callable[[], bool] = lambda: True,
    background_verify: bool = True,
) -> tuple[Guard, AccessControl]:
    """The guard (and the access control it asks) over `core`, telling people through `notifier`."""
    access = AccessControl(core.config, directory)
    guard = Guard(
        config=core.config,
        store=core.store,
        audit=core.audit,
        access=access,
        executor=core.executor,
        notifier=notifier,
        metrics=core.metrics,
        signing_secret=signing_secret,
        alertmanagers=core.alertmanagers,
        settings=guard_settings(core.config),
        is_leader=is_leader,
        background_verify=background_verify,
    )
    return guard, access


def build_services(
    config: Config, settings: Settings, *, slack_min_interval: float = 1.0, worker: WorkerSettings | None = None
) -> Services:
    """The bot's services, in dependency order (see the module docstring)."""
    core = build_core(config, settings)
    metrics = core.metrics
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
    slack = SlackOut(make_client(token, settings.api_url, metrics), metrics, slack_min_interval)
    leader = Leader(
        config.leader_election,
        elect=should_elect(config.leader_election, settings.database_url),
        on_change=lambda held: metrics.leader.set(int(held)),
    )
    queue = IncidentWorker(
        config=config, store=core.store, triager=core.triager, slack=slack, metrics=metrics, settings=worker
    )
    guard, access = build_guard(
        core,
        notifier=SlackNotifier(config=config, slack=slack, retriage=queue.retriage, resync=queue.resync),
        directory=SlackDirectory(slack),
        signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
        is_leader=lambda: leader.is_leader,
    )
    ownership = Ownership(store=core.store, audit=core.audit, access=access, resync=queue.resync)
    return Services(
        config,
        settings,
        metrics,
        core.store,
        core.triager,
        slack,
        access,
        core.audit,
        guard,
        leader,
        queue,
        ownership,
        core.alertmanagers,
    )


SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
