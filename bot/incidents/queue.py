"""The incident queue: stored alerts become one Slack thread per crash-looping workload.

Alerts are claimed from the database in batches (so a restart loses nothing), grouped by the workload they are
about, and each group is handled under that workload's lock: triage, open or update the incident, and bring its
Slack root message up to date. A storm for one workload therefore costs one triage per batch, and re-triage is
throttled. Slack is brought in line by a loop of its own (root messages first, then updates, paced per channel),
so recording alerts never waits for Slack, and retried with backoff until it shows the incident's state; a
triage that fails is said in the thread instead of being swallowed. A thread reply is posted at most once: each
carries a key in its message metadata, marked tried in SQL before it is sent, and a tried one is looked up in the
thread (and adopted) before it is posted again — after a lost answer or a crash between Slack and SQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.core.config import Config
from bot.core.metrics import Metrics
from bot.guard import proposals
from bot.guard.repeats import Repeats
from bot.incidents.routing import Unroutable, guess_workload, route
from bot.kube.client import KubeConfigError, KubeError
from bot.slack import incident_message
from bot.slack.blocks import context, escape, section
from bot.slack.client import SlackOut, SlackSendError
from bot.store import Store
from bot.store.instances import CLAIM_LEASE, HEARTBEAT_SECONDS
from bot.store.rows import AlertRow, IncidentRow
from bot.triage.locate import WorkloadNotFound
from bot.triage.run import Triager, TriageResult

log = logging.getLogger("crashloop.incidents")
GroupKey = tuple[str, str, str]  # environment, namespace, workload-or-pod
LONG_LOG_LINES = 30
REPLY_EVENT = "crashloop_reply"  # message metadata of a thread reply: {"incident_id", "reply": its key}


@dataclass(frozen=True)
class WorkerSettings:
    """How the incident queue works."""

    batch: int = 5000  # a storm's alerts are claimed in few passes: one triage per workload per pass
    lease: timedelta = CLAIM_LEASE  # renewed by the heartbeat while the claiming instance lives
    poll_seconds: float = 2.0
    min_pass_interval: float = 0.25  # woken by every delivery, the queue still passes at most this often
    max_attempts: int = 10
    retriage_seconds: float = 30.0  # re-triage an open incident at most this often when nothing new fires
    retriage_min_seconds: float = 5.0  # …and at most this often when new alerts fire
    update_interval: float = 2.0  # at most one chat.update of a root message per this many seconds (storms)
    concurrency: int = 4
    heartbeat_seconds: float = HEARTBEAT_SECONDS  # how often this instance says it is alive (see store.instances)


def _ctx(incident: IncidentRow) -> dict[str, Any]:
    """Log context of an incident (bot.core.logs puts these fields on the JSON line)."""
    return {
        "incident_id": incident.id,
        "environment": incident.environment,
        "namespace": incident.namespace,
        "workload": incident.workload,
    }


class _PostedElsewhere(Exception):
    """Another replica holds the claim to post this incident's root message."""


class IncidentWorker:
    """Turns stored alerts into incidents and Slack threads."""

    def __init__(
        self,
        *,
        config: Config,
        store: Store,
        triager: Triager,
        slack: SlackOut,
        metrics: Metrics,
        settings: WorkerSettings | None = None,
    ) -> None:
        self.config, self.store, self.triager, self.slack, self.metrics = config, store, triager, slack, metrics
        self.settings = settings or WorkerSettings()
        # a remedy applied recently is offered with the remedy-loop warning (the guard requires approval for it)
        self.repeats = Repeats(store=store, triager=triager, days=config.guard.remedy_repeat_days)
        self._wake = asyncio.Event()
        self._sync_wake = asyncio.Event()
        # alert groups (keyed by the workload the alerts seem to name) and incidents (keyed by the workload the
        # cluster says) each have a lock; a group's lock is always taken before an incident's
        self._group_locks: dict[GroupKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._incident_locks: dict[GroupKey, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._slots = asyncio.Semaphore(self.settings.concurrency)
        self._last_update: dict[int, float] = {}
        self.after_pass: Callable[[], Awaitable[Any]] | None = None  # e.g. resume recovery checks on the leader
        # silences that run out after this are re-rendered (a root must not say "silenced until <past time>");
        # after a restart, those that ran out while the bot was down too
        self._silences_seen_at = datetime.now(UTC) - timedelta(hours=config.silences.max_hours)

    def wake(self) -> None:
        self._wake.set()

    async def resync(self, incident_id: int) -> None:
        """Bring an incident's root message up to date after a change made outside the queue (e.g. a new owner).

        Marking bumps the incident's `sync_seq` in SQL: a sync in flight (rendered before the change, in this
        process or another) sees it changed and leaves the mark (`Store.finish_sync`).
        """
        if await self.store.get_incident(incident_id) is None:
            return
        await self.store.update_incident(incident_id, needs_sync=1, sync_attempts=0, next_sync_at=None)
        self._sync_wake.set()

    async def _sync_loop(self, stop: asyncio.Event) -> None:
        """Bring Slack in line with incidents, apart from the alert passes: a pass records alerts in SQL and
        never waits for Slack's 1 message/s, and a storm's changes to one incident fold into one update."""
        while not stop.is_set():
            self._sync_wake.clear()
            try:
                await self._silences_ended()
                synced = await self.sync_due()
            except Exception:
                log.exception("bringing Slack up to date failed; retrying")
                synced = 0
            if not synced:
                waiters = [asyncio.ensure_future(self._sync_wake.wait()), asyncio.ensure_future(stop.wait())]
                await asyncio.wait(waiters, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
                for w in waiters:
                    w.cancel()

    async def _silences_ended(self) -> None:
        """Mark for sync the open incidents whose root shows a silence that has run out since the last look."""
        now = datetime.now(UTC)
        ended = await self.store.silences.ended_between(self._silences_seen_at, now)
        for silence in ended:
            incident = await self._open_incident_for(silence.environment, silence.namespace, silence.workload)
            if incident is not None:
                await self.resync(incident.id)
        self._silences_seen_at = now

    async def sync_due(self, limit: int = 50) -> int:
        """Sync the incidents Slack is behind on (those without a root message first); returns how many."""
        due = await self.store.incidents_to_sync(limit)

        async def one(stale: IncidentRow) -> None:
            async with self._incident_locks[stale.key]:
                incident = await self.store.get_incident(stale.id)  # as it is now, under the lock
                if incident is not None and incident.needs_sync:
                    await self.sync(incident)

        await asyncio.gather(*(one(stale) for stale in due))
        return len(due)

    async def run(self, stop: asyncio.Event) -> None:
        """Drain until `stop` is set; the batch in hand is finished first (graceful shutdown).

        The process's instance is registered first (taking over what a dead previous incarnation on this host
        held) and beats alongside; on a graceful stop what it still holds is released at once.
        """
        await self._register()
        heartbeat = asyncio.create_task(self._heartbeat(stop), name="instance-heartbeat")
        syncing = asyncio.create_task(self._sync_loop(stop), name="incident-slack-sync")
        try:
            await self._loop(stop)
        finally:
            self._sync_wake.set()
            with contextlib.suppress(asyncio.CancelledError):
                await syncing
            heartbeat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(Exception):
                await self.store.instances.unregister()

    async def _register(self) -> None:
        for attempt in range(30):
            try:
                taken = await self.store.instances.register()
            except Exception as exc:  # the database may still be starting; the webhook answers 503 meanwhile
                log.warning("could not register this instance (%s); retrying", exc)
                await asyncio.sleep(min(5.0, 0.5 * (attempt + 1)))
                continue
            if taken:
                log.info("took over the work of %d dead instance(s) of this host", len(taken))
            return

    async def _heartbeat(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                if await self.store.instances.beat():
                    log.info("took over the work of dead instance(s)")
                    self.wake()
            except Exception as exc:  # recorded for /readyz by the store; the next beat tries again
                log.warning("heartbeat failed: %s", exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.heartbeat_seconds)

    async def _loop(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            started = time.monotonic()
            self._wake.clear()  # before the pass: a delivery stored during it wakes the next one
            try:
                await self.drain_once()
            except Exception:
                log.exception("incident queue pass failed; retrying")
            # in a storm, let deliveries gather: one pass per interval costs a few commits, not a few per delivery
            rest = self.settings.min_pass_interval - (time.monotonic() - started)
            if rest > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), rest)
            waiters = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
            await asyncio.wait(waiters, timeout=self.settings.poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waiters:
                w.cancel()

    async def drain_once(self) -> int:
        """One pass: claim due alerts and record them on their incidents (Slack follows in `_sync_loop`)."""
        rows = await self.store.claim_alerts(self.settings.batch, self.settings.lease)
        groups = await self._group(rows)
        await asyncio.gather(*(self._guarded(key, batch) for key, batch in groups.items()))
        if self.after_pass is not None:
            await self.after_pass()
        self.metrics.queue_depth.set(await self.store.count_alerts("pending"))
        return len(rows)

    async def _group(self, rows: list[AlertRow]) -> dict[GroupKey, list[AlertRow]]:
        groups: dict[GroupKey, list[AlertRow]] = defaultdict(list)
        for row in rows:
            target = row.alert.target
            try:
                env = route(self.config, target)
            except Unroutable as exc:
                self.metrics.alerts_unroutable.inc()
                log.warning("unroutable alert %s: %s", row.alert.name, exc)
                await self.store.finish_alerts([row.id], state="unroutable", error=str(exc))
                continue
            groups[(env, str(target.namespace), target.workload or guess_workload(str(target.name)))].append(row)
        return groups

    async def _guarded(self, key: GroupKey, rows: list[AlertRow]) -> None:
        async with self._slots, self._group_locks[key]:
            try:
                incident = await self.handle(key, rows)
            except Exception as exc:
                log.exception("handling alerts for %s failed", "/".join(key))
                failed = await self.store.retry_alerts(
                    [r.id for r in rows],
                    f"{type(exc).__name__}: {exc}",
                    timedelta(seconds=30),
                    self.settings.max_attempts,
                )
                if failed:
                    log.error("%d alert(s) for %s failed for good after retries", failed, "/".join(key))
                return
            if incident is not None:
                self._sync_wake.set()

    async def handle(self, key: GroupKey, rows: list[AlertRow]) -> IncidentRow | None:
        """Record a group of alerts on its incident (in SQL); returns the incident for Slack to catch up with."""
        env, namespace, name = key
        firing = [r for r in rows if r.alert.status == "firing"]
        existing = await self._open_incident_for(env, namespace, name)
        result, error = None, None
        if firing and self._should_triage(existing, rows):
            target = firing[-1].alert.target  # a pod is resolved to its workload by the triage itself
            result, error = await self._triage(env, namespace, target.workload or str(target.name))
        workload = result.evidence.workload.name if result else (existing.workload if existing else name)
        if not firing and existing is None:
            await self.store.finish_alerts([r.id for r in rows], state="processed", environment=env)
            return None
        async with self._incident_locks[(env, namespace, workload)]:
            return await self._record(env, namespace, workload, rows, result, error)

    async def _record(
        self,
        env: str,
        namespace: str,
        workload: str,
        rows: list[AlertRow],
        result: TriageResult | None,
        error: str | None,
    ) -> IncidentRow:
        kind = result.evidence.workload.kind if result else None
        incident, created = await self.store.open_incident(env, namespace, workload, kind)
        told: dict[str, Any] = {}
        if result is not None:
            told = await self._triage_values(incident, created, result, rows)
        elif error is not None:
            told = self._error_values(incident, error, rows)
        new_replies = _keyed(told.pop("new_replies", []))
        channel = self.config.environment(env).channel

        def compute(current: IncidentRow) -> dict[str, Any]:  # on the row as it is now, inside the transaction
            values = {**self._counts(current, rows), **told, "channel": current.channel or channel}
            values.update(pending_replies=[*current.pending_replies, *new_replies], needs_sync=1)
            values.update(sync_attempts=0, next_sync_at=None)
            return values

        incident = await self.store.update_incident_atomic(incident.id, compute)
        log.info("%d alert(s) recorded on incident %s", len(rows), incident.id, extra=_ctx(incident))
        await self.store.finish_alerts(
            [r.id for r in rows], state="processed", environment=env, incident_id=incident.id
        )
        return incident

    async def retriage(self, incident_id: int) -> IncidentRow | None:
        """Triage an incident's workload again now and update its thread (the "Re-run triage" button)."""
        first = await self.store.get_incident(incident_id)
        if first is None:
            return None
        async with self._incident_locks[first.key]:
            incident = await self.store.get_incident(incident_id) or first  # as it is now, under the lock
            result, error = await self._triage(incident.environment, incident.namespace, incident.workload)
            if result is not None:
                told = await self._triage_values(incident, False, result, [])
            else:
                told = self._error_values(incident, str(error), [])
            new_replies = _keyed(told.pop("new_replies", []))

            def compute(current: IncidentRow) -> dict[str, Any]:
                replies = [*current.pending_replies, *new_replies]
                return {**told, "pending_replies": replies, "needs_sync": 1, "sync_attempts": 0, "next_sync_at": None}

            incident = await self.store.update_incident_atomic(incident.id, compute)
            return await self.sync(incident)

    async def _open_incident_for(self, env: str, namespace: str, name: str) -> IncidentRow | None:
        """The open incident an alert group belongs to (named by workload, pod, or a pod's likely workload)."""
        names = {name, guess_workload(name)}
        for incident in await self.store.list_incidents(environment=env, status="open"):
            if incident.namespace == namespace and (incident.workload in names or incident.pod == name):
                return incident
        return None

    def _should_triage(self, existing: IncidentRow | None, rows: list[AlertRow]) -> bool:
        if existing is None or existing.last_triage_at is None:
            return True
        new_rules = {r.alert.name for r in rows if r.alert.status == "firing"} - set(existing.alertnames)
        age = (datetime.now(UTC) - existing.last_triage_at).total_seconds()
        # a rule that had not fired yet is worth a fresh look (not several per second when rules fire together);
        # more pods or replicas firing the same rules are not: in a storm they would re-triage every workload
        # on every pass
        return (bool(new_rules) and age >= self.settings.retriage_min_seconds) or age >= self.settings.retriage_seconds

    async def _triage(self, env: str, namespace: str, name: str) -> tuple[TriageResult | None, str | None]:
        """Triage `name`; a pod that is gone by now (replaced since the alert fired) falls back to its workload."""
        started = time.perf_counter()
        try:
            try:
                result = await self.triager.triage(env, name, namespace=namespace)
            except WorkloadNotFound:
                if guess_workload(name) == name:
                    raise
                result = await self.triager.triage(env, guess_workload(name), namespace=namespace)
        except WorkloadNotFound as exc:
            outcome, error = "not_found", exc.describe()
        except (KubeError, KubeConfigError) as exc:
            outcome, error = "error", str(exc)
        else:
            self.metrics.triage_seconds.labels(env, "ok").observe(result.seconds)
            return result, None
        self.metrics.triage_seconds.labels(env, outcome).observe(time.perf_counter() - started)
        log.warning("triage of %s/%s failed: %s", namespace, name, error)
        return None, error

    def _counts(self, incident: IncidentRow, rows: list[AlertRow]) -> dict[str, Any]:
        firing = list(incident.firing)
        fired = 0
        for row in rows:  # in arrival order: a later resolve clears, a later fire re-opens
            fp = row.alert.fingerprint
            if row.alert.status == "firing" and fp not in firing:
                firing.append(fp)
                fired += 1
            elif row.alert.status == "resolved" and fp in firing:
                firing.remove(fp)
        names = list(dict.fromkeys([*incident.alertnames, *(r.alert.name for r in rows)]))
        values: dict[str, Any] = {
            "alert_count": incident.alert_count + fired,  # alerts that started firing, not deliveries
            "firing": firing,
            "alertnames": names,
            "last_alert_at": max(r.received_at for r in rows),
        }
        if not firing and any(r.alert.status == "resolved" for r in rows):
            values.update(status="resolved", resolved_at=datetime.now(UTC))
        return values

    async def _triage_values(
        self, incident: IncidentRow, created: bool, result: TriageResult, rows: list[AlertRow]
    ) -> dict[str, Any]:
        ev, finding = result.evidence, result.finding
        minutes = self.config.actions.proposal_minutes
        buttons = await proposals.buttons(self.store, ev, finding.remedies, minutes=minutes, incident_id=incident.id)
        repeats = await self.repeats.for_evidence(ev, [str(r.id) for r in finding.remedies])
        sample = next((r.alert.sample_log for r in reversed(rows) if r.alert.sample_log), None)
        read_only = self.config.limits.read_only
        message = incident_message.body(
            ev, finding, buttons, str(incident.id), read_only, sample, incident.message, repeats
        )
        focus = ev.focus
        term = (focus.last_termination or focus.terminated) if focus else None
        new_digest = incident_message.digest(finding, ev)
        replies: list[dict[str, Any]] = []
        if incident.finding_digest and new_digest != incident.finding_digest:
            replies.append({"text": incident_message.update_reply(incident.summary, finding)})
        log_excerpt = ev.focus_logs()
        if incident.finding_digest is None and log_excerpt and len(log_excerpt.lines) > LONG_LOG_LINES:
            name = f"{log_excerpt.pod}-{log_excerpt.container}{'-previous' if log_excerpt.previous else ''}.log"
            replies.append({"file": name, "content": "\n".join(log_excerpt.lines), "title": f"Full log: {name}"})
        return {
            "kind": ev.workload.kind,
            "branch": str(finding.branch) if finding.branch else None,
            "reason": (term.reason if term else None) or (focus.waiting_reason if focus else None),
            "exit_code": term.exit_code if term else None,
            "restarts": ev.focus_restarts,  # the focus container's: the number the message shows
            "pod": ev.focus_pod,
            "container": ev.focus_container,
            "summary": finding.summary,
            "message": message,
            "finding_digest": new_digest,
            "last_triage_at": datetime.now(UTC),
            "new_replies": replies,
        }

    def _error_values(self, incident: IncidentRow, error: str, rows: list[AlertRow]) -> dict[str, Any]:
        description = next((r.alert.annotations.get("description") for r in rows if r.alert.annotations), None)
        text = f":warning: *Could not triage*: {escape(error)}"
        values: dict[str, Any] = {"last_triage_at": datetime.now(UTC)}
        if incident.message is None:
            blocks = [section(text)]
            if description:
                blocks.append(context(escape(description)))
            values["message"] = {"blocks": blocks, "text": f"Could not triage {incident.workload}: {error[:200]}"}
            values["summary"] = f"could not triage: {error.splitlines()[0][:200]}"
        else:
            values["new_replies"] = [{"text": text}]
        return values

    async def sync(self, incident: IncidentRow) -> IncidentRow:
        """Make Slack show the incident's state: root message posted or updated, pending replies sent.

        The mark is cleared only if the incident is still as it was read (its `sync_seq`): a change committed
        while Slack was being talked to — by any process — keeps it marked for the next pass."""
        seen = incident.sync_seq
        if not incident.channel:
            log.error(
                "environment %s has no Slack channel: incident %s is not posted", incident.environment, incident.id
            )
            return await self.store.finish_sync(incident.id, seen, slack_error="no channel configured")
        wait = self._update_wait(incident)
        if wait > 0:  # updated moments ago: fold this change into the next update instead of spamming
            return await self.store.update_incident(
                incident.id, next_sync_at=datetime.now(UTC) + timedelta(seconds=wait)
            )
        done = await self.store.changes.done_about(incident) if incident.status == "resolved" else []
        payload = incident_message.root(incident, datetime.now(UTC), done)
        payload = incident_message.with_silence(payload, await self._silence_blocks(incident))
        try:
            incident = await self._post_root(incident, payload)
            self._last_update[incident.id] = time.monotonic()
            while incident.pending_replies:
                incident = await self._reply(incident, incident.pending_replies[0])
        except _PostedElsewhere:
            return await self.store.update_incident(incident.id, next_sync_at=datetime.now(UTC) + timedelta(seconds=2))
        except Exception as exc:  # Slack refused, or a bug: the incident stays marked for another attempt
            error = exc.error if isinstance(exc, SlackSendError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, SlackSendError):
                log.exception("bringing Slack up to date on incident %s failed", incident.id, extra=_ctx(incident))
            attempts = incident.sync_attempts + 1
            delay = timedelta(seconds=min(300, 2**attempts))
            log.warning(
                "Slack is behind on incident %s (%s); retry in %s", incident.id, error, delay, extra=_ctx(incident)
            )
            return await self.store.update_incident(
                incident.id, slack_error=error, sync_attempts=attempts, next_sync_at=datetime.now(UTC) + delay
            )
        return await self.store.finish_sync(incident.id, seen, slack_error=None, sync_attempts=0)

    async def _silence_blocks(self, incident: IncidentRow) -> list[dict[str, Any]]:
        """The workload's silence (or a Silence button) for the root message of an open incident."""
        env = self.config.environments.get(incident.environment)
        if incident.status != "open" or env is None:
            return []
        silence = await self.store.silences.in_force_for(incident.environment, incident.namespace, incident.workload)
        offer = bool(env.alertmanager_url) and not self.config.limits.read_only
        return incident_message.silence_blocks(incident.id, silence, offer=offer)

    def _update_wait(self, incident: IncidentRow) -> float:
        """Seconds to wait before this incident's root message may be updated again (0: now)."""
        if not incident.root_ts or incident.root_ts.startswith("claim:") or incident.status == "resolved":
            return 0.0
        last = self._last_update.get(incident.id)
        return 0.0 if last is None else max(0.0, last + self.settings.update_interval - time.monotonic())

    async def _post_root(self, incident: IncidentRow, payload: dict[str, Any]) -> IncidentRow:
        channel = str(incident.channel)
        if incident.root_ts and not incident.root_ts.startswith("claim:"):
            await self.slack.update(channel, incident.root_ts, payload["text"], payload["blocks"], payload["metadata"])
            return incident
        abandoned = await self.store.root_claim_abandoned(incident.root_ts)
        stale = incident.root_ts if abandoned else None
        if not await self.store.claim_root_post(incident.id, self.store.root_claim(), stale=stale):
            raise _PostedElsewhere  # another replica is posting it: try again once it has
        # after an abandoned claim (its holder died, maybe after posting) or a failed attempt, the message may
        # exist: look for it before posting
        look_first = abandoned or incident.sync_attempts > 0 or incident.slack_error is not None
        try:
            ts, adopted = await self.slack.post_unique(
                channel,
                payload["text"],
                payload["blocks"],
                metadata=payload["metadata"],
                is_it=incident_message.is_root_of(incident.id),
                since=incident.opened_at.timestamp() - 60,
                look_first=look_first,
            )
        except SlackSendError:
            await self.store.update_incident(incident.id, root_ts=None)
            raise
        incident = await self.store.update_incident(incident.id, root_ts=ts)
        if adopted:  # posted before the answer was lost: bring it up to what the incident is now
            await self.slack.update(channel, ts, payload["text"], payload["blocks"], payload["metadata"])
        return incident

    async def _reply(self, incident: IncidentRow, reply: dict[str, Any]) -> IncidentRow:
        """Send one pending reply; the incident without it. A keyed reply is marked tried before it is posted,
        and a tried one is looked for in the thread first: posted once, whatever answer was lost."""
        channel, ts, key = str(incident.channel), incident.root_ts, reply.get("key")
        if "file" in reply:
            await self.slack.upload(channel, ts, reply["file"], reply["content"], reply["title"])
        elif key is None:  # queued before replies carried a key
            await self.slack.post(channel, reply["text"], [section(reply["text"])], thread_ts=ts)
        else:
            tried = bool(reply.get("tried"))
            if not tried:
                await self.store.update_incident_atomic(incident.id, _marked_tried(str(key)))
            metadata = {"event_type": REPLY_EVENT, "event_payload": {"incident_id": incident.id, "reply": key}}
            _, adopted = await self.slack.post_unique(
                channel,
                reply["text"],
                [section(reply["text"])],
                metadata=metadata,
                is_it=_is_reply(incident.id, str(key)),
                look_first=tried,
                thread_ts=ts,
            )
            if adopted:
                log.info("a reply on incident %s was posted already: adopted", incident.id, extra=_ctx(incident))
        return await self.store.update_incident_atomic(incident.id, _without(reply))


def _keyed(replies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replies as queued: a text reply gets the key that finds it in its thread if its answer is lost."""
    return [r if "file" in r or "key" in r else {**r, "key": secrets.token_hex(8)} for r in replies]


def _is_reply(incident_id: int, key: str) -> Callable[[dict[str, Any]], bool]:
    def check(metadata: dict[str, Any]) -> bool:
        payload = metadata.get("event_payload") or {}
        return (
            metadata.get("event_type") == REPLY_EVENT
            and payload.get("incident_id") == incident_id
            and payload.get("reply") == key
        )

    return check


def _marked_tried(key: str) -> Callable[[IncidentRow], dict[str, Any]]:
    def compute(current: IncidentRow) -> dict[str, Any]:
        return {
            "pending_replies": [{**r, "tried": True} if r.get("key") == key else r for r in current.pending_replies]
        }

    return compute


def _without(reply: dict[str, Any]) -> Callable[[IncidentRow], dict[str, Any]]:
    """The pending replies without `reply` (by its key; an unkeyed one by its content), others kept as they are."""

    def same(r: dict[str, Any]) -> bool:
        return r.get("key") == reply["key"] if "key" in reply else r == reply

    def compute(current: IncidentRow) -> dict[str, Any]:
        replies = list(current.pending_replies)
        at = next((i for i, r in enumerate(replies) if same(r)), None)
        return {"pending_replies": replies if at is None else replies[:at] + replies[at + 1 :]}

    return compute
