"""``sessions show`` and ``sessions list`` with hostile stored text, and sessions past their
maximum age, through ``app.cli.main`` on a real store (SQLite and PostgreSQL)."""

from __future__ import annotations

import json

from app.core import Usage
from app.store.base import NewMessage, TurnCommit
from tests.ops.conftest import AGENT, SLACK_THREAD, Cli, Seeded

# Clears the screen, retitles the terminal, then writes red text; and a C1 CSI.
HOSTILE = "look\x1b[2J\x1b]0;pwned\x07 \x1b[31mred\x9b1m\rover\x00"
HOSTILE_KEY = f"{AGENT}:jira:AD-9\x1b[8m"


async def _hostile_session(seeded: Seeded) -> str:
    store = seeded.store
    session = await store.create_session(AGENT)
    await store.register_key(HOSTILE_KEY, session.id, url="https://x/\x1b[1m")
    fence = await store.acquire_lease(session.id, "seed", 30)
    assert fence is not None
    await store.commit_turn(
        TurnCommit(
            session_id=session.id,
            fence=fence,
            turn_id="t-hostile",
            messages=[
                NewMessage(
                    role="user",
                    content=[{"type": "text", "text": f"[Mallory (U9) in Slack]\n{HOSTILE}\nend"}],
                    author_id="U9",
                    author_name="Mal\x1b[0mlory\nfake line",
                    source="slack",
                ),
                NewMessage(
                    role="assistant",
                    content=[
                        {
                            "type": "tool_use",
                            "id": "t1",
                            "name": "x\x1b[2J",
                            "input": {"k": HOSTILE},
                        },
                    ],
                ),
                NewMessage(
                    role="user",
                    content=[{"type": "tool_result", "tool_use_id": "t1", "content": HOSTILE}],
                ),
            ],
            usage=Usage(1, 1, 0, 0),
            model="m",
            outcome="ok",
            holder="seed",
        )
    )
    await store.log_event(session.id, "note", cause="cause\x1b[2J")
    return session.id


async def test_show_escapes_terminal_control_characters(cli: Cli, seeded: Seeded) -> None:
    session_id = await _hostile_session(seeded)
    result = await cli("sessions", "show", session_id)
    assert result.code == 0, result.err
    out = result.out
    for raw in ("\x1b", "\x07", "\x9b", "\r", "\x00"):
        assert raw not in out
    assert "look\\x1b[2J\\x1b]0;pwned\\x07 \\x1b[31mred\\x9b1m\\x0dover\\x00" in out
    # newlines of the text stay lines; a name or key cannot pass for two lines
    assert "end" in [line.strip() for line in out.splitlines()]
    assert "Mal\\x1b[0mlory\\x0afake line (U9) via slack" in out
    assert "fake line" not in [line.strip() for line in out.splitlines()]
    assert f"{AGENT}:jira:AD-9\\x1b[8m" in out
    assert "https://x/\\x1b[1m" in out
    assert "cause\\x1b[2J" in out
    assert "→ x\\x1b[2J(" in out


async def test_show_json_keeps_stored_text_exact(cli: Cli, seeded: Seeded) -> None:
    session_id = await _hostile_session(seeded)
    result = await cli("sessions", "show", session_id, "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    assert doc["transcript"][0]["content"][0]["text"] == f"[Mallory (U9) in Slack]\n{HOSTILE}\nend"
    assert doc["transcript"][0]["author_name"] == "Mal\x1b[0mlory\nfake line"
    assert doc["keys"][0]["key"] == HOSTILE_KEY


async def test_list_escapes_keys(cli: Cli, seeded: Seeded) -> None:
    await _hostile_session(seeded)
    result = await cli("sessions", "list", "--key", "AD-9")
    assert result.code == 0, result.err
    assert "\x1b" not in result.out
    assert f"{AGENT}:jira:AD-9\\x1b[8m" in result.out


async def test_a_session_past_its_maximum_age(
    cli: Cli, seeded: Seeded, cli_env: dict[str, str]
) -> None:
    # The seeded thread was created a day ago and was active since: within the TTL, but
    # older than a maximum age of one day.
    cli_env["SESSION_MAX_AGE_DAYS"] = "1"
    shown = await cli("sessions", "show", SLACK_THREAD, "--json")
    assert shown.code == 0, shown.err
    session = json.loads(shown.out)["session"]
    assert (session["status"], session["live"]) == ("active", False)
    listed = await cli("sessions", "list", "--key", "C01ABC")
    assert "active (past max age)" in listed.out

    pruned = await cli("prune", "--json")
    assert pruned.code == 0, pruned.err
    assert json.loads(pruned.out)["sessions_expired"] == 3  # thread, github and stale
    for session_id in (seeded.thread, seeded.github):
        events = await seeded.store.events_for(session_id)
        assert [e.cause for e in events if e.kind == "expired"] == ["older than 1 days"]
