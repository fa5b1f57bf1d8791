"""Block Kit built within Slack's limits, truncating visibly; untrusted text escaped."""

from __future__ import annotations

import subprocess
import sys

from bot.slack import blocks as sb


def test_escape_defuses_mentions_and_markup() -> None:
    assert (
        sb.escape("<!channel> ping <@U123> & <https://x|y>")
        == "&lt;!channel&gt; ping &lt;@U123&gt; &amp; &lt;https://x|y&gt;"
    )


def test_section_over_3000_chars_is_cut_visibly() -> None:
    block = sb.section("x" * 5000)
    text = block["text"]["text"]
    assert len(text) == sb.MAX_SECTION
    assert text.endswith(sb.TRUNCATED)


def test_header_and_button_limits() -> None:
    assert len(sb.header("h" * 400)["text"]["text"]) == sb.MAX_HEADER
    assert len(sb.button("b" * 200, "a", "v")["text"]["text"]) == sb.MAX_BUTTON


def test_fields_capped_at_ten() -> None:
    assert len(sb.section("s", [f"f{i}" for i in range(15)])["fields"]) == sb.MAX_FIELDS


def test_more_than_50_blocks_are_cut_and_say_so() -> None:
    blocks = sb.limit_blocks([sb.divider() for _ in range(80)])
    assert len(blocks) == sb.MAX_BLOCKS
    assert "31 more blocks" in blocks[-1]["elements"][0]["text"]


def test_code_section_keeps_the_end_of_a_long_log() -> None:
    lines = [f"line {i} " + "y" * 80 for i in range(200)]
    block = sb.code_section("*Logs*", lines)
    text = block["text"]["text"]
    assert len(text) <= sb.MAX_SECTION
    assert "line 199" in text
    assert "line 0 " not in text
    assert text.count("```") == 2


def test_code_section_escapes_and_neutralises_fences() -> None:
    text = sb.code_section("*Logs*", ["<!here> ```rm -rf```"])["text"]["text"]
    assert "&lt;!here&gt;" in text
    assert text.count("```") == 2


def test_the_message_quotes_the_decisive_line_and_shows_the_rbac_yaml() -> None:
    from runbooks.classify import classify
    from tests.unit.builders import event, evidence

    line = (
        'configmaps is forbidden: User "system:serviceaccount:shop:default" cannot list resource "configmaps" '
        'in API group "" in the namespace "shop"'
    )
    mount = 'MountVolume.SetUp failed for volume "config" : configmap "web-ini" not found'
    ev = evidence(log_lines=(line,), events=[event("FailedMount", mount, count=3, name=f"web-{i}") for i in range(2)])
    finding = classify(ev)

    text = "\n".join(str(b.get("text", {}).get("text", "")) for b in sb.finding_blocks(ev, finding))

    assert "cannot list resource" in text  # the decisive line, quoted under Why
    assert "Proposed RBAC" in text
    assert "kind: RoleBinding" in text
    assert "×6 (2 pods)" in text  # one event line for the two pods that reported it


def test_a_thread_update_quotes_the_line_the_call_was_made_on() -> None:
    from bot.slack.incident_message import update_reply
    from runbooks.classify import classify
    from tests.unit.builders import evidence

    finding = classify(evidence(log_lines=("booting", "ModuleNotFoundError: No module named 'cv2'")))

    reply = update_reply("web/app exits with code 1", finding)

    assert "> `ModuleNotFoundError: No module named 'cv2'`" in reply
    assert "(was: web/app exits with code 1)" in reply


def test_pod_uids_are_taken_out_of_event_text_in_every_form_events_carry_them() -> None:
    uid = "0b7c2d3e-1111-4222-8333-444455556666"
    assert sb.strip_uids(f"Back-off restarting failed container app in pod web-7d9f-x2k_shop({uid})") == (
        "Back-off restarting failed container app in pod web-7d9f-x2k_shop"
    )
    assert sb.strip_uids(f"Killing pod_uid={uid} after grace") == "Killing after grace"
    assert sb.strip_uids(f"Pod web-7d9f-x2k (UID: {uid.upper()}) evicted") == "Pod web-7d9f-x2k evicted"
    assert (
        sb.strip_uids("pod web-7d9f-x2k restarted; image sha256:abc") == "pod web-7d9f-x2k restarted; image sha256:abc"
    )
    assert sb.strip_uids(f'Unable to attach or mount volumes for pod "grafana-0_monitoring({uid})": timeout') == (
        'Unable to attach or mount volumes for pod "grafana-0_monitoring": timeout'
    )
    assert sb.strip_uids(f"Deleting pod, uid: {uid}") == "Deleting pod,"


def test_a_uuid_that_is_not_a_pod_uid_is_kept() -> None:
    uid = "3f2a9c1e-7b4d-4e2a-9f10-5c6d7e8f9a0b"
    mount = f'MountVolume.SetUp failed for volume "pvc-{uid}" : rpc error: code = Internal'
    assert sb.strip_uids(mount) == mount  # the decisive line of the rbac_mounts branch, kept in the resolved message
    cloud = f"AccessDenied (Service: S3; Status Code: 403; Request ID: {uid}; Proxy: null)"
    assert sb.strip_uids(cloud) == cloud
    assert sb.strip_uids(f"trace {uid} failed") == f"trace {uid} failed"


def test_uid_stripping_is_linear_on_long_whitespace_runs() -> None:
    """Event messages are attacker-influenced and this runs on the event loop: 100k blanks (with parens, tabs and
    'uid' fragments that start a match) must not cost quadratic time. Run in a child process with a generous
    bound: linear work takes milliseconds, the quadratic pattern this replaces took minutes."""
    code = (
        "from bot.slack.blocks import strip_uids\n"
        "for text in (' ' * 100_000 + 'x', ' \\t' * 50_000 + '(', 'uid: ' * 20_000, ' (' * 50_000):\n"
        "    strip_uids(text)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], timeout=30, check=False, capture_output=True)
    assert done.returncode == 0, done.stderr


def test_names_and_quotes_are_inert_in_mrkdwn() -> None:
    assert sb.mention("cli:ana", "ana") == "ana"  # a plain name reads as before
    assert sb.mention("cli:*x* _y_", "*x* _y_") == "`*x* _y_`"  # no bold, no italic: shown as code
    assert sb.mention("cli:a~b~`c`", None) == "`cli:a~b~ˋcˋ`"  # a backtick cannot end the span
    assert sb.mention("cli:<!here> & co", None) == "cli:&lt;!here&gt; &amp; co"  # escaped once, not twice
    assert sb.mention("cli:*<b>*", None) == "`cli:*&lt;b&gt;*`"
    assert sb.mention("U0ONCALL1", "*x*") == "<@U0ONCALL1>"
    assert sb.code_span("run `rm -rf` & <x>") == "`run ˋrm -rfˋ &amp; &lt;x&gt;`"
    assert sb.code_span("a" * 50, 20) == f"`{'a' * 7}{sb.TRUNCATED}`"  # cut before escaping: no broken entity
    assert sb.code_span("&" * 50, 20) == f"`{'&amp;' * 7}{sb.TRUNCATED}`"


def test_dates_are_slack_tokens_with_a_utc_fallback_and_durations_read_at_a_glance() -> None:
    from datetime import UTC, datetime, timedelta

    from bot.slack.dates import duration, slack_date

    at = datetime(2026, 12, 3, 9, 5, 7, tzinfo=UTC)
    assert slack_date(at) == f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-03 09:05 UTC>"
    assert [duration(at, at + timedelta(seconds=s)) for s in (45, 720, 11100, 2 * 86400 + 4 * 3600)] == [
        "45s",
        "12m",
        "3h 5m",
        "2d 4h",
    ]
    assert duration(at, at - timedelta(seconds=5)) == "0s"
