"""``sessions list/show/drop``, ``prune`` and ``migrate`` against a real store (SQLite and
PostgreSQL), through ``app.cli.main`` as an operator would run them."""

from __future__ import annotations

import asyncio
import json
import re
import sys

import pytest

from app.cli import main
from app.core import Usage
from app.store.base import NewMessage
from app.turns import replay_window as rw
from app.turns.turn import context_message
from tests.ops.conftest import (
    GITHUB_ITEM,
    JIRA_ITEM,
    JIRA_URL,
    SLACK_DM,
    SLACK_THREAD,
    Cli,
    Seeded,
    _answer,
    _said,
    _turn,
    child_env,
    repo_root,
)


async def test_list_json_has_every_session_most_recent_first(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "list", "--json")
    assert result.code == 0, result.err
    sessions = json.loads(result.out)["sessions"]
    assert [s["id"] for s in sessions] == [seeded.thread, seeded.github, seeded.ended, seeded.stale]
    thread = sessions[0]
    assert thread["keys"] == [SLACK_THREAD, JIRA_ITEM]
    assert thread["status"] == "active" and thread["live"] is True
    assert sessions[3]["status"] == "active" and sessions[3]["live"] is False
    assert thread["turns"] == 2
    assert thread["resume_count"] == 1
    assert thread["usage"] == {
        "input_tokens": 2200,
        "output_tokens": 230,
        "cache_read_tokens": 900,
        "cache_write_tokens": 900,
    }
    assert sessions[2]["status"] == "reset" and sessions[2]["keys"] == []


async def test_list_filters(cli: Cli, seeded: Seeded) -> None:
    async def ids(*flags: str) -> list[str]:
        result = await cli("sessions", "list", "--json", *flags)
        assert result.code == 0, result.err
        return [s["id"] for s in json.loads(result.out)["sessions"]]

    assert await ids("--platform", "github") == [seeded.github]
    assert await ids("--platform", "jira") == [seeded.thread]
    assert await ids("--platform", "slack") == [seeded.thread, seeded.stale]
    assert await ids("--key", "acme/WIDGETS") == [seeded.github]
    assert await ids("--key", "D01XYZ") == [seeded.stale]
    assert await ids("--active-within", "5") == [seeded.thread]
    assert await ids("--active-within", "15") == [seeded.thread, seeded.github]
    assert await ids("--older-than", "30") == [seeded.stale]
    assert await ids("--older-than", "5", "--active-within", "30") == [
        seeded.github,
        seeded.ended,
    ]
    assert await ids("--status", "reset") == [seeded.ended]
    assert await ids("--status", "active", "--platform", "slack") == [seeded.thread, seeded.stale]
    assert await ids("--limit", "2") == [seeded.thread, seeded.github]


async def test_list_table_is_aligned_for_a_terminal(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "list")
    assert result.code == 0, result.err
    header, *rows = result.lines
    assert header.split() == [
        "SESSION",
        "STATUS",
        "LAST",
        "ACTIVE",
        "(UTC)",
        "IDLE",
        "TURNS",
        "TOKENS",
        "KEYS",
    ]
    assert len(rows) == 4
    status_col = header.index("STATUS")
    keys_col = header.index("KEYS")
    for row in rows:
        assert row[status_col:].split()[0] in ("active", "reset")
        assert row[keys_col - 2 : keys_col] == "  "
    stale_row = next(r for r in rows if r.startswith(seeded.stale))
    assert stale_row[status_col:].startswith("active (past TTL)")
    thread_row = next(r for r in rows if r.startswith(seeded.thread))
    assert thread_row[keys_col:] == f"{SLACK_THREAD}  (+1 more)"
    assert "  4,230  " in thread_row  # tokens of both turns, all kinds


async def test_list_with_no_match_says_so(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "list", "--key", "nothing-like-this")
    assert (result.code, result.out) == (0, "No sessions match.\n")
    result = await cli("sessions", "list", "--key", "nothing-like-this", "--json")
    assert json.loads(result.out) == {"sessions": []}


async def test_show_by_key_prints_keys_events_transcript_and_usage(
    cli: Cli, seeded: Seeded
) -> None:
    # The key may be given without the agent prefix.
    result = await cli("sessions", "show", "slack:C01ABC::1763700000.000100")
    assert result.code == 0, result.err
    out = result.out
    assert f"Session      {seeded.thread}" in out
    assert "Status       active" in out
    assert "Resumed      once" in out
    assert SLACK_THREAD in out
    assert re.search(rf"{JIRA_ITEM}\s+{JIRA_URL}\s", out)
    # event log
    for kind in ("created", "key_linked", "resumed", "note"):
        assert f"  {kind}" in out
    assert "seeded by the test" in out
    # transcript: authors, text, tool calls summarised
    assert "ada (U1) via slack" in out
    assert "grace (U2) via slack" in out
    assert "the export crashes, please file a ticket" in out
    assert '→ create_jira_ticket(project_key="AD", summary="Export crashes")' in out
    assert f"← Created AD-12: {JIRA_URL}" in out
    assert "tool results via slack" in out
    # token usage per turn and in total
    turn_lines = [line for line in out.splitlines() if line.strip().startswith("t-thread-")]
    assert len(turn_lines) == 2
    assert turn_lines[0].split()[-4:] == ["1,000", "200", "0", "800"]
    assert turn_lines[1].split()[-4:] == ["1,200", "30", "900", "100"]
    total = next(line for line in out.splitlines() if "total (2 turns)" in line)
    assert total.split()[-4:] == ["2,200", "230", "900", "900"]


async def test_show_json_by_id(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "show", seeded.thread, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["session"]["id"] == seeded.thread
    assert doc["session"]["resume_count"] == 1
    assert [(k["key"], k["url"]) for k in doc["keys"]] == [
        (SLACK_THREAD, None),
        (JIRA_ITEM, JIRA_URL),
    ]
    assert [e["kind"] for e in doc["events"]] == [
        "created",
        "key_linked",
        "key_linked",
        "resumed",
        "note",
    ]
    assert [m["role"] for m in doc["transcript"]] == [
        "user",
        "assistant",
        "user",
        "assistant",
        "user",
        "assistant",
    ]
    assert doc["transcript"][0]["author_name"] == "ada"
    assert doc["transcript"][1]["content"][1]["name"] == "create_jira_ticket"
    assert [t["turn_id"] for t in doc["turns"]] == seeded.turn_ids
    assert doc["turns"][0]["seconds"] == 3.0
    assert doc["usage"]["input_tokens"] == 2200


async def test_show_finds_a_session_past_its_ttl_by_key(cli: Cli, seeded: Seeded) -> None:
    # Idle for 45 days: its key no longer resolves for new messages, but the operator can
    # still look at it.
    assert await seeded.store.resolve(SLACK_DM) is None
    result = await cli("sessions", "show", SLACK_DM, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["session"]["id"] == seeded.stale


async def test_show_unknown_is_exit_1_with_nothing_on_stdout(cli: Cli, seeded: Seeded) -> None:
    for ref in ("jira:NOPE-1", "00000000-0000-0000-0000-000000000000"):
        result = await cli("sessions", "show", ref, "--json")
        assert result.code == 1
        assert result.out == ""
        assert f"no session with id or key {ref!r}" in result.err


async def test_drop_ends_the_session_and_releases_its_keys(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "drop", GITHUB_ITEM, "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out) == {
        "session_id": seeded.github,
        "action": "dropped",
        "previous_status": "active",
        "released_keys": [GITHUB_ITEM],
    }
    session = await seeded.store.get_session(seeded.github)
    assert session is not None and session.status == "dropped"
    assert await seeded.store.resolve(GITHUB_ITEM) is None
    last = (await seeded.store.events_for(seeded.github))[-1]
    assert (last.kind, last.cause) == ("dropped", "dropped by operator")
    # the transcript stays until pruned, and the session is still there to look at
    assert len(await seeded.store.load_transcript(seeded.github)) == 2

    again = await cli("sessions", "drop", seeded.github)
    assert again.code == 0
    assert "already ended (dropped)" in again.out


async def test_drop_prints_what_it_did(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "drop", seeded.thread)
    assert result.code == 0, result.err
    assert result.lines == [
        f"Dropped session {seeded.thread}.",
        "Released keys (the next message on each starts a new conversation):",
        f"  {SLACK_THREAD}",
        f"  {JIRA_ITEM}",
    ]


async def test_drop_delete_removes_it(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "drop", JIRA_ITEM, "--delete", "--json")
    assert result.code == 0, result.err
    assert json.loads(result.out)["action"] == "deleted"
    assert await seeded.store.get_session(seeded.thread) is None
    assert await seeded.store.load_transcript(seeded.thread) == []
    assert (await cli("sessions", "show", seeded.thread)).code == 1


async def test_drop_unknown_is_exit_1(cli: Cli, seeded: Seeded) -> None:
    result = await cli("sessions", "drop", "github:acme/widgets#999")
    assert result.code == 1
    assert "no session" in result.err


async def test_prune_expires_idle_and_deletes_old_ended_sessions(cli: Cli, seeded: Seeded) -> None:
    result = await cli("prune", "--json")
    assert result.code == 0, result.err
    counts = json.loads(result.out)
    assert counts["retention_days"] == 14
    # the 45-day-idle session expires, and, ended longer ago than the retention, goes at once
    # with the session reset 20 days ago
    assert counts["sessions_expired"] == 1
    assert counts["sessions_deleted"] == 2
    assert counts["events_deleted"] >= 4
    assert await seeded.store.get_session(seeded.stale) is None
    assert await seeded.store.get_session(seeded.ended) is None
    assert await seeded.store.get_session(seeded.github) is not None

    text = await cli("prune", "--retention-days", "0")
    assert text.code == 0, text.err
    assert text.lines[0].split() == ["PRUNED", "COUNT", "WHICH"]
    assert text.lines[1].split()[:3] == ["sessions", "expired", "0"]


async def test_migrate_then_nothing_to_do(cli: Cli, cli_env: dict[str, str]) -> None:
    first = await cli("migrate", "--json")
    assert first.code == 0, first.err
    doc = json.loads(first.out)
    assert doc["schema_before"] is None and doc["changed"] is True
    second = await cli("migrate")
    assert second.code == 0
    assert second.out == f"Schema already at {doc['schema']}; nothing to do.\n"


async def test_commands_refuse_an_unmigrated_database(cli: Cli) -> None:
    result = await cli("sessions", "list", "--json")
    assert result.code == 3
    assert result.out == ""
    assert "run `python -m app migrate`" in result.err


async def test_unreachable_database_is_exit_3(cli: Cli, cli_env: dict[str, str]) -> None:
    cli_env["DATABASE_URL"] = "postgresql://nobody@127.0.0.1:9/threadline"
    result = await cli("sessions", "list")
    assert result.code == 3
    assert "database error" in result.err


async def test_configuration_error_is_exit_2(cli: Cli, cli_env: dict[str, str]) -> None:
    cli_env["PORT"] = "abc"
    result = await cli("sessions", "list", "--json")
    assert result.code == 2
    assert result.out == ""
    assert "PORT" in result.err


async def test_subprocess_sessions_list_json(seeded: Seeded, cli_env: dict[str, str]) -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "app",
        "sessions",
        "list",
        "--platform",
        "github",
        "--json",
        cwd=repo_root(),
        env=child_env(cli_env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode == 0, err.decode()
    [session] = json.loads(out)["sessions"]
    assert session["id"] == seeded.github
    assert session["keys"] == [GITHUB_ITEM]


@pytest.mark.parametrize(
    ("argv", "flags"),
    [
        (["doctor"], ["--json"]),
        (
            ["sessions", "list"],
            [
                "--platform",
                "--key",
                "--active-within",
                "--older-than",
                "--status",
                "--limit",
                "--json",
            ],
        ),
        (["sessions", "show"], ["ID|KEY", "--json"]),
        (["sessions", "drop"], ["ID|KEY", "--delete", "--json"]),
        (["prune"], ["--retention-days", "--json"]),
        (["erase"], ["--slack-user", "--github-login", "--jira-account", "--json"]),
        (["migrate"], ["--json"]),
    ],
)
def test_every_command_has_help(
    argv: list[str], flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for flag in flags:
        assert flag in text


async def test_show_marks_compaction_points_with_their_summaries(cli: Cli, seeded: Seeded) -> None:
    store, now = seeded.store, seeded.clock.now()
    point = rw.compaction_point(
        "Ada asked for a ticket about the export crash; AD-12 was filed.",
        summarised=4,
        kept=2,
        trigger="too_long",
    )
    await _turn(
        store,
        seeded.thread,
        "t-thread-3",
        [context_message(point), _said("ada", "U1", "and now?"), _answer("Still open.")],
        Usage(10, 1, 0, 0),
        now,
    )
    compaction = {
        "type": "compaction",
        "content": "The export crash is AD-12, still open.",
        "encrypted_content": "opaque",
        "signature": "sig",
    }
    server = NewMessage(
        role="assistant", content=[compaction, {"type": "text", "text": "Fixed today."}]
    )
    await _turn(
        store,
        seeded.thread,
        "t-thread-4",
        [_said("grace", "U2", "news?"), server],
        Usage(10, 1, 0, 0),
        now,
    )

    result = await cli("sessions", "show", seeded.thread)
    assert result.code == 0, result.err
    out = result.out
    assert (
        "== compaction point: threadline summarised 4 earlier messages, kept the 2 before "
        "this verbatim (too_long) ==" in out
    )
    assert "Ada asked for a ticket about the export crash; AD-12 was filed." in out
    assert "== compaction point: the API summarised everything before this ==" in out
    assert "The export crash is AD-12, still open." in out
    assert "opaque" not in out and "threadline':" not in out

    doc = json.loads((await cli("sessions", "show", seeded.thread, "--json")).out)
    kinds = [m["compaction"] for m in doc["transcript"]]
    assert kinds.count("client") == 1 and kinds.count("server") == 1
    assert kinds.index("client") == 6 and kinds.index("server") == 10
    assert doc["transcript"][10]["content"][0] == compaction  # exactly as stored
