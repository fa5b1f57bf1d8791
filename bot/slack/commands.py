"""The `/crashloop` commands as operations that return Slack messages, shared by the slash command handler.

Each returns blocks for the user who asked; every refusal says what was tried and why. Kept apart from the Bolt
listener so the commands can be driven directly and the listener stays a thin edge.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from bot.guard import proposals
from bot.guard.access import Role
from bot.guard.outcomes import Refused
from bot.guard.trail import Actor
from bot.kube.client import KubeConfigError, KubeError
from bot.remedies.params import default_params, typed_params
from bot.reports.render import report_blocks
from bot.reports.service import build_report
from bot.slack import blocks as sb
from bot.slack import change_messages, silence_requests
from bot.slack.dates import slack_date
from bot.triage.locate import WorkloadNotFound
from bot.wiring import Services
from runbooks.model import RemedyId

REMEDIES = {str(r) for r in RemedyId}

HELP = """*`/crashloop` — get a workload out of CrashLoopBackOff*
• `/crashloop triage ENV WORKLOAD` — what is crashing, why (with the evidence) and the safe next step
• `/crashloop status [ENV]` — open incidents
• `/crashloop history ENV WORKLOAD` — what was done to it (the audit log)
• `/crashloop hotspots [ENV] [--days N]` — which workloads keep crashing, and what was done about it
• `/crashloop REMEDY ENV WORKLOAD [key=value …]` — preview a remedy (bump_memory, patch_probes, set_env, set_image,
  rollout_undo, rollout_restart, service_account, netcheck), then confirm;
  e.g. `/crashloop bump_memory prod api to=512Mi`
• `/crashloop silence ENV [NS/]WORKLOAD DURATION [comment…]` — silence its alerts in Alertmanager (e.g. 2h),
  after a preview and your confirmation; `/crashloop unsilence ENV [NS/]WORKLOAD` ends the bot's silence
• `/crashloop help` — this message
WORKLOAD is a Deployment, StatefulSet, DaemonSet or pod name; it is looked up in the environment's namespaces."""


@dataclass
class Reply:
    """What to answer: blocks and fallback text; `public` posts it in the channel, else only the user sees it."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
    public: bool = False


def error(tried: str, why: str) -> Reply:
    text = f":no_entry: {sb.code_span(tried)} — {why}"  # what the user typed, inert
    return Reply(text, [sb.section(text)])


def _unknown_environment(services: Services, env: str) -> str:
    return f"unknown environment {sb.code_span(env)}; configured: {', '.join(sorted(services.config.environments))}"


async def run(services: Services, user: str, text: str, channel: str | None = None) -> Reply:
    """Dispatch `/crashloop <text>` for `user`."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        return error(f"/crashloop {text}", f"could not parse the arguments: {exc}")
    if not words or words[0] == "help":
        return Reply(HELP, [sb.section(HELP)])
    command, args = words[0], words[1:]
    if command == "triage":
        return await triage(services, user, args)
    if command == "status":
        return await status(services, user, args)
    if command == "history":
        return await history(services, user, args)
    if command == "hotspots":
        return await hotspots(services, user, args)
    if command in ("silence", "unsilence"):
        text, blocks = await silence_requests.command(services, user, command, args, channel)
        return Reply(text, blocks)
    if command in REMEDIES:
        return await remedy(services, user, command, args, channel)
    return error(f"/crashloop {text}", f"unknown command {command!r}. {HELP}")


async def triage(services: Services, user: str, args: list[str]) -> Reply:
    tried = "/crashloop triage " + " ".join(args)
    if len(args) != 2:
        return error(tried, "usage: `/crashloop triage ENV WORKLOAD`")
    env, name = args
    if env not in services.config.environments:
        return error(tried, _unknown_environment(services, env))
    decision = await services.access.role(user, env)
    if decision.role < Role.VIEWER:
        return error(tried, f"you may not triage in {env}: {decision.why}")
    try:
        result = await services.triager.triage(env, name)
    except WorkloadNotFound as exc:
        return error(tried, sb.escape(exc.describe()))
    except (KubeError, KubeConfigError) as exc:
        return error(tried, f"the cluster could not be read: {sb.escape(str(exc))}")
    ev, finding = result.evidence, result.finding
    services.metrics.triage_seconds.labels(env, "ok").observe(result.seconds)
    minutes = services.config.actions.proposal_minutes
    buttons = await proposals.buttons(services.store, ev, finding.remedies, minutes=minutes)
    repeats = await services.guard.repeats.for_evidence(ev, [str(r.id) for r in finding.remedies])
    title = f"Triage · {ev.workload.namespace}/{ev.workload.name} ({env})"
    read_only = services.config.limits.read_only
    blocks = [
        sb.header(title),
        *sb.finding_blocks(ev, finding, buttons=buttons, read_only=read_only, repeats=repeats),
    ]
    blocks.append(sb.context(f"asked by <@{user}> · triaged in {result.seconds:.2f}s"))
    return Reply(sb.fallback_text(ev, finding), sb.limit_blocks(blocks), public=True)


async def status(services: Services, user: str, args: list[str]) -> Reply:
    tried = "/crashloop status " + " ".join(args)
    env = args[0] if args else None
    if env is not None and env not in services.config.environments:
        return error(tried, _unknown_environment(services, env))
    decision = await services.access.role(user, env)
    if decision.role < Role.VIEWER:
        return error(tried, f"you may not see incidents: {decision.why}")
    open_incidents = await services.store.list_incidents(environment=env, status="open")
    if not open_incidents:
        text = f":white_check_mark: No open incidents{f' in {env}' if env else ''}."
        return Reply(text, [sb.section(text)])
    lines = [f"*{len(open_incidents)} open incident(s){f' in {env}' if env else ''}*"]
    for inc in open_incidents[:40]:
        branch = inc.branch or "unclassified"
        where = f" · <#{inc.channel}>" if inc.channel else ""
        summary = sb.escape(inc.summary or "triage pending")
        lines.append(
            f"• *{inc.environment}* `{inc.namespace}/{inc.workload}` — {summary} [{branch}] · "
            f"{inc.alert_count} alert(s) · since {slack_date(inc.opened_at)}{where}"
        )
    text = "\n".join(lines)
    return Reply(text, [sb.section(text)])


async def history(services: Services, user: str, args: list[str]) -> Reply:
    tried = "/crashloop history " + " ".join(args)
    if len(args) != 2:
        return error(tried, "usage: `/crashloop history ENV WORKLOAD`")
    env, workload = args
    decision = await services.access.role(user, env)
    if decision.role < Role.VIEWER:
        return error(tried, f"you may not read the audit log of {env}: {decision.why}")
    records = (await services.audit.list(environment=env, workload=workload, limit=500))[-25:]
    if not records:
        text = f"No recorded actions on `{sb.escape(workload)}` in {env}."
        return Reply(text, [sb.section(text)])
    lines = [f"*Last {len(records)} audit entries for `{sb.escape(workload)}` ({env})*"]
    for r in records:
        e = r.event
        who = sb.mention(e.actor_id)  # a Slack user as a mention, a terminal name (`cli:…`) inert
        detail = f" — {sb.escape(e.detail[:200])}" if e.detail else ""
        lines.append(f"• {slack_date(r.at)} {who} *{e.action}* ({e.outcome}) {e.remedy or ''}{detail}")
    text = "\n".join(lines)
    return Reply(text, [sb.section(text)])


async def remedy(services: Services, user: str, remedy_id: str, args: list[str], channel: str | None) -> Reply:
    """`/crashloop REMEDY ENV WORKLOAD [key=value …]`: triage, propose, and show the guarded preview."""
    tried = f"/crashloop {remedy_id} " + " ".join(args)
    if len(args) < 2 or any("=" not in a for a in args[2:]):
        return error(tried, f"usage: `/crashloop {remedy_id} ENV WORKLOAD [key=value …]`")
    env, name = args[0], args[1]
    overrides = dict(a.split("=", 1) for a in args[2:])
    if "value" in overrides:
        return error(tried, "literal values are not taken on a command line (Slack keeps it): use the button's form")
    if env not in services.config.environments:
        return error(tried, _unknown_environment(services, env))
    refused = await services.guard.admit(Actor(user), env, name, remedy_id)  # before any cluster read for the asker
    if refused is not None:
        return error(tried, sb.escape(refused.reason))
    try:
        result = await services.triager.triage(env, name)
    except WorkloadNotFound as exc:
        return error(tried, sb.escape(exc.describe()))
    except (KubeError, KubeConfigError) as exc:
        return error(tried, f"the cluster could not be read: {sb.escape(str(exc))}")
    ev = result.evidence
    proposed = next((r for r in result.finding.remedies if str(r.id) == remedy_id), None)
    params = {**(proposed.params if proposed else default_params(ev, remedy_id)), **typed_params(overrides)}
    minutes = services.config.actions.proposal_minutes
    proposal = await proposals.propose(services.store, ev, remedy_id, params, minutes=minutes)
    outcome = await services.guard.request(Actor(user), proposal.id, channel=channel)
    if isinstance(outcome, Refused):
        return error(tried, sb.escape(outcome.reason))
    text, blocks = change_messages.answer(outcome)
    return Reply(text, blocks)


async def hotspots(services: Services, user: str, args: list[str]) -> Reply:
    """`/crashloop hotspots [ENV] [--days N]`: the restart-hotspot report, now, for the asker."""
    tried = "/crashloop hotspots " + " ".join(args)
    days, rest = None, list(args)
    if "--days" in rest:
        i = rest.index("--days")
        if i + 1 >= len(rest) or not rest[i + 1].isdigit() or not 0 < int(rest[i + 1]) <= 90:
            return error(tried, "`--days N` takes a number of days from 1 to 90")
        days = int(rest.pop(i + 1))
        rest.pop(i)
    envs = rest or sorted(services.config.environments)
    unknown = [e for e in envs if e not in services.config.environments]
    if unknown or len(rest) > 1:
        known = ", ".join(sorted(services.config.environments))
        return error(tried, f"usage: `/crashloop hotspots [ENV] [--days N]`; configured: {known}")
    blocks: list[dict[str, Any]] = []
    for env in envs:
        decision = await services.access.role(user, env)
        if decision.role < Role.VIEWER:
            return error(tried, f"you may not read the reports of {env}: {decision.why}")
        report = await build_report(services.report_context(), env, days)
        blocks.extend(report_blocks(report, chart_in_thread=False))
    return Reply(f"Restart hotspots ({', '.join(envs)})", sb.limit_blocks(blocks))
