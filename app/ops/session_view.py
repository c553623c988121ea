"""``sessions show``: one session as an operator reads it, as text or JSON.

Keys, status, the event log, the transcript with authors, tool calls and results, compaction
points with their summaries (ours: a message of its own; the API's: a ``compaction`` block in
an answer), the seed of a restarted conversation, token usage per turn, and the votes people
gave each turn's answer in Slack (with a thumbs-down's reason), and its background jobs.
Transcript text
is shown as stored, one block per line group, except that in the text output every terminal
control character of stored text (transcripts, names, keys, causes) is shown escaped
(``output.printable``), so a message cannot rewrite the operator's terminal. ``--json`` shows
everything exactly as stored, each message with ``compaction`` saying whether it is a
compaction point (``client``, ``server`` or null).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from app.core import Usage
from app.ops import output
from app.ops.jobs import public as job_json
from app.ops.jobs import render_list
from app.ops.output import printable
from app.ops.sessions import (
    Context,
    found,
    session_json,
    status_label,
    usage_json,
)
from app.store.base import SessionEvent, TranscriptEntry, TurnRecord, Vote
from app.turns import replay_window as rw


async def show_session(args: argparse.Namespace, ctx: Context) -> int:
    session = await found(ctx, args.ref)
    if session is None:
        return 1
    keys = await ctx.store.keys_for(session.id)
    events = await ctx.store.events_for(session.id)
    transcript = await ctx.store.load_transcript(session.id)
    turns = await ctx.store.turns_for(session.id)
    total = sum((t.usage for t in turns), Usage())
    votes = await ctx.store.votes_for_turns([t.turn_id for t in turns])
    jobs = await ctx.store.jobs_of_session(session.id)
    if args.json:
        output.emit_json(
            {
                "session": session_json(session, ctx),
                "keys": [
                    {"key": k.key, "url": k.url, "created_at": k.created_at.isoformat()}
                    for k in keys
                ],
                "events": [_event_json(e) for e in events],
                "transcript": [_entry_json(e) for e in transcript],
                "turns": [
                    {
                        **_turn_json(t),
                        "votes": [_vote_json(v) for v in votes if v.turn_id == t.turn_id],
                    }
                    for t in turns
                ],
                "usage": usage_json(total),
                "jobs": [job_json(j) for j in jobs],
            }
        )
        return 0
    sections = [
        output.fields(
            [
                ("Session", session.id),
                ("Agent", printable(session.agent)),
                ("Status", status_label(session, ctx)),
                (
                    "Created",
                    f"{output.when(session.created_at)} UTC "
                    f"({output.ago(session.created_at, ctx.now)} ago)",
                ),
                (
                    "Last active",
                    f"{output.when(session.last_active_at)} UTC "
                    f"({output.ago(session.last_active_at, ctx.now)} ago)",
                ),
                ("Resumed", _times(session.resume_count)),
            ]
        ),
        _section(
            "Keys",
            output.table(
                ["KEY", "URL", "LINKED (UTC)"],
                [
                    [printable(k.key), printable(k.url or "-"), output.when(k.created_at)]
                    for k in keys
                ],
            )
            if keys
            else "(none: the session has ended, or its keys were released)",
        ),
        _section(
            "Events",
            output.table(
                ["TIME (UTC)", "EVENT", "DETAIL", "TURN"],
                [
                    [
                        output.when(e.created_at),
                        printable(e.kind),
                        printable(e.cause or ""),
                        printable(e.turn_id or ""),
                    ]
                    for e in events
                ],
            )
            if events
            else "(none)",
        ),
        _section(
            f"Transcript ({len(transcript)} messages)",
            "\n".join(_entry_text(e, session.agent) for e in transcript) or "(empty)",
        ),
        _section("Turns", _turns_table(turns, total) if turns else "(none)"),
        _section("Votes", _votes_table(votes) if votes else "(none)"),
        _section("Jobs", render_list(jobs) if jobs else "(none)"),
    ]
    print("\n\n".join(sections))
    return 0


def _times(n: int) -> str:
    return "never" if n == 0 else ("once" if n == 1 else f"{n} times")


def _section(title: str, body: str) -> str:
    indented = "\n".join(("  " + line).rstrip() for line in body.splitlines())
    return f"{title}\n{indented}"


def _event_json(e: SessionEvent) -> dict[str, Any]:
    return {
        "kind": e.kind,
        "cause": e.cause,
        "turn_id": e.turn_id,
        "created_at": e.created_at.isoformat(),
    }


def _entry_json(e: TranscriptEntry) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "role": e.role,
        "author_id": e.author_id,
        "author_name": e.author_name,
        "source": e.source,
        "turn_id": e.turn_id,
        "created_at": e.created_at.isoformat(),
        "content": e.content,
        "compaction": _compaction_kind(e),  # "client" | "server" | None: a compaction point
    }


def _compaction_kind(e: TranscriptEntry) -> str | None:
    message = {"role": e.role, "content": e.content}
    if rw.is_compaction_point(message):
        return "client"
    if rw.server_compaction(message) is not None:
        return "server"
    return None


def _turn_json(t: TurnRecord) -> dict[str, Any]:
    return {
        "turn_id": t.turn_id,
        "outcome": t.outcome,
        "model": t.model,
        "started_at": t.started_at.isoformat(),
        "finished_at": t.finished_at.isoformat(),
        "seconds": round((t.finished_at - t.started_at).total_seconds(), 3),
        "usage": usage_json(t.usage),
    }


def _vote_json(v: Vote) -> dict[str, Any]:
    return {
        "user_id": v.user_id,
        "vote": v.vote,
        "reason": v.reason,
        "channel": v.channel,
        "message_ts": v.message_ts,
        "created_at": v.created_at.isoformat(),
        "updated_at": v.updated_at.isoformat(),
    }


def _votes_table(votes: list[Vote]) -> str:
    """Each vote on the turn whose answer it is, with what a thumbs-down said."""
    rows = [
        [
            printable(v.turn_id or "-"),
            v.vote,
            printable(v.user_id),
            output.when(v.updated_at),
            printable(output.one_line(v.reason or "", 80)),
        ]
        for v in votes
    ]
    return output.table(["TURN", "VOTE", "USER", "WHEN (UTC)", "REASON"], rows)


def _author(e: TranscriptEntry, agent: str) -> str:
    """Who wrote ``e``, escaped for the terminal."""
    return printable(_author_plain(e, agent))


def _author_plain(e: TranscriptEntry, agent: str) -> str:
    if e.role == "assistant":
        return agent
    mark = rw.mark_of({"role": e.role, "content": e.content})
    if mark is not None and mark.get("kind") == "compaction":
        return (
            f"== compaction point: {agent} summarised {mark.get('summarised', '?')} earlier "
            f"messages, kept the {mark.get('kept', '?')} before this verbatim "
            f"({mark.get('trigger', '?')}) =="
        )
    if mark is not None and mark.get("kind") == "seed":
        return "== restarted: seeded from the thread =="
    if e.author_name or e.author_id:
        name = e.author_name or e.author_id
        return f"{name} ({e.author_id})" if e.author_name and e.author_id else str(name)
    if all(b.get("type") == "tool_result" for b in e.content):
        return "tool results"
    return "user"


def _entry_text(e: TranscriptEntry, agent: str) -> str:
    where = f" via {printable(e.source)}" if e.source else ""
    head = f"[{e.seq}] {output.when(e.created_at)}  {_author(e, agent)}{where}"
    body = [line for block in e.content for line in _block_lines(block)]
    return "\n".join([head, *("    " + line for line in body)])


def _block_lines(block: dict[str, Any]) -> list[str]:
    """A block as terminal lines, every control character escaped."""
    kind = block.get("type")
    if kind == "text":
        text = str(block.get("text", "")).replace("\r\n", "\n")
        return printable(text, multiline=True).splitlines() or [""]
    if kind == "compaction":
        if block.get("content") is None:
            return ["[compaction failed: nothing summarised]"]
        head = "== compaction point: the API summarised everything before this =="
        text = str(block.get("content")).replace("\r\n", "\n")
        return [head, *printable(text, multiline=True).splitlines()]
    if kind in ("thinking", "redacted_thinking"):
        return [f"[{kind}]"]
    if kind == "tool_use":
        args = block.get("input") or {}
        shown = ", ".join(
            f"{k}={json.dumps(v, ensure_ascii=False)}"
            for k, v in (args.items() if isinstance(args, dict) else [])
        )
        return [printable(f"→ {block.get('name')}({output.one_line(shown, 120)})")]
    if kind == "tool_result":
        content = block.get("content")
        if isinstance(content, list):
            text = " ".join(str(c.get("text", "")) for c in content if isinstance(c, dict))
        else:
            text = str(content or "")
        prefix = "← error: " if block.get("is_error") else "← "
        return [prefix + printable(output.one_line(text, 160))]
    return [printable(f"[{kind}]")]


def _turns_table(turns: list[TurnRecord], total: Usage) -> str:
    rows = [
        [
            printable(t.turn_id),
            output.when(t.started_at),
            f"{(t.finished_at - t.started_at).total_seconds():.1f}",
            printable(t.outcome),
            printable(t.model or "-"),
            output.count(t.usage.input_tokens),
            output.count(t.usage.output_tokens),
            output.count(t.usage.cache_read_tokens),
            output.count(t.usage.cache_write_tokens),
        ]
        for t in turns
    ]
    rows.append(
        [
            f"total ({len(turns)} turns)",
            "",
            "",
            "",
            "",
            output.count(total.input_tokens),
            output.count(total.output_tokens),
            output.count(total.cache_read_tokens),
            output.count(total.cache_write_tokens),
        ]
    )
    headers = [
        "TURN",
        "STARTED (UTC)",
        "SECONDS",
        "OUTCOME",
        "MODEL",
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "CACHE WRITE",
    ]
    return output.table(headers, rows, right={2, 5, 6, 7, 8})


# -- drop --------------------------------------------------------------------------------------
