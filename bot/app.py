"""The composition root: builds the aiohttp application and owns every long-lived resource.

Routes: POST /slack/events (Bolt, signatures always verified), POST /alerts/alertmanager and /alerts/cubeapm,
GET /healthz, /readyz, /metrics. The database engine, Kubernetes clients, Slack client and the incident queue
live in cleanup contexts: they start in order, stop in reverse, and the queue finishes its batch in hand on
shutdown (SIGTERM drains in-flight work). Nothing is created at import time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.core.settings import Settings
from bot.guard.access import AccessControl
from bot.guard.executor import Executor
from bot.guard.flow import Guard, guard_settings
from bot.incidents.queue import IncidentWorker, WorkerSettings
from bot.kube.leader import Leader, should_elect
from bot.reports.lifecycle import reports_cleanup_ctx
from bot.reports.service import ReportContext
from bot.slack.client import SlackOut, make_client
from bot.store import Store
from bot.store.audit import AuditLog
from bot.store.migrate import upgrade
from bot.triage.run import Triager
from bot.wiring import SERVICES, Services
from handlers import alerts, health, slack_actions, slack_commands, slack_events

log = logging.getLogger("crashloop.app")


@dataclass(frozen=True)
class AppOptions:
    """How this process runs."""

    migrate: bool = True  # run `db upgrade` at start
    worker: WorkerSettings = field(default_factory=WorkerSettings)
    slack_min_interval: float = 1.0  # seconds between messages to one channel
    shutdown_drain_seconds: float = 20.0
    socket_mode: bool = False  # receive Slack events over a WebSocket (SLACK_APP_TOKEN) instead of HTTP


BOLT: web.AppKey[AsyncApp] = web.AppKey("bolt", AsyncApp)
WORKER: web.AppKey[IncidentWorker] = web.AppKey("worker", IncidentWorker)
LEADER: web.AppKey[Leader] = web.AppKey("leader", Leader)


def build_app(config: Config, settings: Settings, options: AppOptions | None = None) -> web.Application:
    options = options or AppOptions()
    app = web.Application(client_max_size=alerts.MAX_BODY + 64 * 1024)
    app.cleanup_ctx.append(_services(config, settings, options))
    app.cleanup_ctx.append(_leader(config, settings))
    app.cleanup_ctx.append(_worker(options))
    app.cleanup_ctx.append(reports_cleanup_ctx(_report_context))
    if options.socket_mode:
        app.cleanup_ctx.append(_socket_mode(settings))
    slack_route = web.post("/slack/events", slack_events.hardened(_slack_events))  # checked before Bolt parses
    app.add_routes([*health.routes(), *alerts.routes(), slack_route])
    return app


CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _services(config: Config, settings: Settings, options: AppOptions) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        metrics = Metrics()
        store = Store(settings.database_url)
        if options.migrate:
            await upgrade(store.engine)
        token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else ""
        client = make_client(token, settings.api_url, metrics)
        slack = SlackOut(client, metrics, options.slack_min_interval)
        triager = Triager(config)
        access = AccessControl(config, slack)
        audit = AuditLog(store.engine)
        guard = Guard(
            config=config,
            store=store,
            audit=audit,
            access=access,
            executor=Executor(triager),
            slack=slack,
            metrics=metrics,
            signing_secret=settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else "",
            settings=guard_settings(config),
        )
        services = Services(config, settings, metrics, store, triager, slack, access, audit, guard)
        app[SERVICES] = services
        app[BOLT] = _bolt(services, client, settings)
        try:
            yield
        finally:
            triager.close()
            await store.close()

    return ctx


def _bolt(services: Services, client: AsyncWebClient, settings: Settings) -> AsyncApp:
    signing = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    bolt = AsyncApp(
        client=client,  # carries the bot token; AsyncApp would otherwise read SLACK_BOT_TOKEN itself
        signing_secret=signing or "unset-requests-will-fail-verification",
        process_before_response=False,
        request_verification_enabled=True,
    )
    slack_commands.register(bolt, services)
    slack_actions.register(bolt, services)
    return bolt


def _leader(config: Config, settings: Settings) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        elect = should_elect(config.leader_election, settings.database_url)
        leader = Leader(
            config.leader_election, elect=elect, on_change=lambda held: services.metrics.leader.set(int(held))
        )
        services.metrics.leader.set(int(leader.is_leader))
        services.guard.is_leader = lambda: leader.is_leader
        app[LEADER] = leader
        stop = asyncio.Event()
        task = asyncio.create_task(leader.run(stop), name="leader-election")
        try:
            yield
        finally:
            stop.set()
            await task

    return ctx


def _report_context(app: web.Application) -> ReportContext:
    context, leader = app[SERVICES].report_context(), app[LEADER]
    context.is_leader = lambda: leader.is_leader  # the scheduler and the sampler are singleton work
    return context


def _worker(options: AppOptions) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        worker = IncidentWorker(
            config=services.config,
            store=services.store,
            triager=services.triager,
            slack=services.slack,
            metrics=services.metrics,
            settings=options.worker,
        )
        services.wake_worker = worker.wake
        services.retriage = worker.retriage
        services.guard.retriage = worker.retriage
        worker.after_pass = services.guard.resume_verifications
        app[WORKER] = worker
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop), name="incident-queue")
        try:
            yield
        finally:
            stop.set()
            worker.wake()
            await services.guard.drain(options.shutdown_drain_seconds)
            try:
                await asyncio.wait_for(task, options.shutdown_drain_seconds)
            except TimeoutError:
                log.warning(
                    "incident queue did not drain in %ss; unfinished alerts stay stored", options.shutdown_drain_seconds
                )
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    return ctx


def _socket_mode(settings: Settings) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        handler = AsyncSocketModeHandler(app[BOLT], app_token=token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    return ctx


async def _slack_events(request: web.Request) -> web.Response:
    bolt = request.app[BOLT]
    response = await bolt.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(response)
