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

from bot.core.config import Config
from bot.core.heap import freeze_startup_objects, thaw_objects
from bot.core.settings import Settings
from bot.incidents.queue import IncidentWorker, WorkerSettings
from bot.kube.leader import Leader
from bot.reports.lifecycle import reports_cleanup_ctx
from bot.slack.redacting import redact_body, redact_replies
from bot.store.migrate import upgrade
from bot.wiring import SERVICES, Services, build_services
from handlers import alerts, health, slack_actions, slack_commands, slack_errors, slack_events, slack_silences

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
    app.cleanup_ctx.append(_leader)
    app.cleanup_ctx.append(_worker(options))
    app.cleanup_ctx.append(_verifications(options))
    app.cleanup_ctx.append(reports_cleanup_ctx(lambda a: a[SERVICES].report_context()))
    if options.socket_mode:
        app.cleanup_ctx.append(_socket_mode(settings))
    app.cleanup_ctx.append(_frozen_heap)  # last: once everything above has started
    slack_route = web.post("/slack/events", slack_events.hardened(_slack_events))  # checked before Bolt parses
    app.add_routes([*health.routes(), *alerts.routes(), slack_route])
    return app


CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


def _services(config: Config, settings: Settings, options: AppOptions) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = build_services(
            config, settings, slack_min_interval=options.slack_min_interval, worker=options.worker
        )
        if options.migrate:
            await upgrade(services.store.engine)
        app[SERVICES] = services
        app[WORKER] = services.worker
        app[LEADER] = services.leader
        app[BOLT] = _bolt(services, settings)
        try:
            yield
        finally:
            services.triager.close()
            await services.store.close()

    return ctx


async def _frozen_heap(_app: web.Application) -> AsyncIterator[None]:
    log.debug("%d start-up objects exempted from garbage collection", freeze_startup_objects())
    try:
        yield
    finally:
        thaw_objects()  # what this app held can be collected once it stops (tests start many apps in one process)


def _bolt(services: Services, settings: Settings) -> AsyncApp:
    bolt_log = logging.getLogger("crashloop.bolt")  # Bolt logs through ours, never below WARNING (see _slack_events)
    bolt_log.setLevel(logging.WARNING)
    signing = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else None
    bolt = AsyncApp(
        client=services.slack.client,  # carries the bot token; AsyncApp would otherwise read SLACK_BOT_TOKEN itself
        signing_secret=signing or "unset-requests-will-fail-verification",
        process_before_response=False,
        request_verification_enabled=True,
        logger=bolt_log,
    )
    bolt.middleware(redact_replies)  # every respond() redacted, as SlackOut redacts every Web API call
    slack_commands.register(bolt, services)
    slack_actions.register(bolt, services)
    slack_silences.register(bolt, services)
    slack_errors.register(bolt)
    return bolt


async def _leader(app: web.Application) -> AsyncIterator[None]:
    leader, services = app[LEADER], app[SERVICES]
    services.metrics.leader.set(int(leader.is_leader))
    stop = asyncio.Event()
    task = asyncio.create_task(leader.run(stop), name="leader-election")
    try:
        yield
    finally:
        stop.set()
        await task


def _worker(options: AppOptions) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        services = app[SERVICES]
        worker = services.worker
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


def _verifications(options: AppOptions) -> CleanupCtx:
    """On the leader, every poll: watch the changes applied but not yet verified (another replica's, a crash's)."""

    async def ctx(app: web.Application) -> AsyncIterator[None]:
        guard, stop = app[SERVICES].guard, asyncio.Event()

        async def loop() -> None:
            while not stop.is_set():
                try:
                    await guard.resume_verifications()
                except Exception:
                    log.exception("resuming recovery checks failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), options.worker.poll_seconds)

        task = asyncio.create_task(loop(), name="recovery-checks")
        try:
            yield
        finally:
            stop.set()
            await task

    return ctx


def _socket_mode(settings: Settings) -> CleanupCtx:
    async def ctx(app: web.Application) -> AsyncIterator[None]:
        from bot.slack.socket_mode import DedupingSocketModeHandler

        token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        handler = DedupingSocketModeHandler(app[BOLT], app_token=token)
        await handler.connect_async()  # type: ignore[no-untyped-call]
        try:
            yield
        finally:
            await handler.close_async()  # type: ignore[no-untyped-call]

    return ctx


async def _slack_events(request: web.Request) -> web.Response:
    """Signatures are checked here first, so a bad one is refused without its body reaching any log (Bolt's own
    check, still on behind this one, logs the whole body — `response_url` included — at INFO)."""
    if not slack_errors.signed(request.app[SERVICES].settings, await request.read(), request.headers):
        return web.json_response({"error": "invalid request"}, status=401)
    bolt = request.app[BOLT]
    response = await bolt.async_dispatch(await to_bolt_request(request))
    return await to_aiohttp_response(redact_body(response))
