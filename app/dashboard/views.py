"""What the dashboard's pages show, built from what the store holds: pure functions and frozen
dataclasses, rendered by the templates (which escape everything; nothing here is HTML).

* ``entry_view``: a transcript entry as the page shows it: who wrote it and where, its blocks
  (text, tool calls with their input, tool results, compaction summaries, thinking), whether
  it is a compaction point or the seed of a restarted conversation;
* ``key_view``: a linked key with a link out (Slack, Jira, GitHub), only ever http(s): the
  address stored with the key, else one built for its place (GitHub's web host is the one of
  ``GITHUB_API_URL``: ``github_web_url``);
* ``usage_view``: token usage per turn and in total, with an estimated cost.

The cost is an estimate from a small table of list prices per model family (US dollars per
million tokens; cache writes at 1.25 times and cache reads at 0.1 times the input price). A
model of no known family has no estimate. Prices change: the table is a guide, not a bill.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final
from urllib.parse import quote, urlsplit, urlunsplit

from app.core import ConversationKey, Usage
from app.store.base import KeyLink, TranscriptEntry, TurnRecord
from app.turns import replay_window as rw

# input, output: US dollars per million tokens, by model family (a part of the model's name).
PRICES: Final[dict[str, tuple[float, float]]] = {
    "opus": (5.0, 25.0),
    "sonnet": (3.0, 15.0),
    "haiku": (1.0, 5.0),
}
CACHE_WRITE_FACTOR: Final = 1.25
CACHE_READ_FACTOR: Final = 0.1
MAX_SHOWN: Final = 20_000  # characters of one block shown; the rest is cut with a note
PLATFORM_TITLES: Final = {
    "slack": "Slack",
    "jira": "Jira",
    "github": "GitHub",
    "dashboard": "Dashboard",
    "job": "Job",
}


# -- the transcript --------------------------------------------------------------------------
@dataclass(frozen=True)
class BlockView:
    """One block of a message. ``kind``: text, meta (our bracketed notes to Claude),
    tool_use, tool_result, compaction, thinking or other."""

    kind: str
    text: str = ""
    name: str = ""  # the tool's name (tool_use, tool_result)
    is_error: bool = False


@dataclass(frozen=True)
class EntryView:
    seq: int
    role: str
    author: str
    author_id: str | None
    via: str | None  # the surface's title ("Slack", "Dashboard")
    at: datetime
    turn_id: str | None
    blocks: list[BlockView]
    # "client" or "server" at a compaction point; "seed" at the start of a restarted one
    marker: str | None = None

    @property
    def anchor(self) -> str:
        return f"m{self.seq}"


def entry_views(entries: Sequence[TranscriptEntry], agent: str) -> list[EntryView]:
    """The transcript as shown, tool results named after the call that asked for them."""
    tools: dict[str, str] = {}
    shown = []
    for entry in entries:
        for block in entry.content:
            if block.get("type") == "tool_use" and isinstance(block.get("id"), str):
                tools[block["id"]] = str(block.get("name", "tool"))
        shown.append(entry_view(entry, agent, tools))
    return shown


def entry_view(entry: TranscriptEntry, agent: str, tools: dict[str, str]) -> EntryView:
    message = {"role": entry.role, "content": entry.content}
    via = PLATFORM_TITLES.get(entry.source or "", entry.source) if entry.source else None

    def shown(author: str, blocks: list[BlockView], marker: str | None = None) -> EntryView:
        return EntryView(
            entry.seq,
            entry.role,
            author,
            entry.author_id,
            via,
            entry.created_at,
            entry.turn_id,
            blocks,
            marker,
        )

    mark = rw.mark_of(message)
    if mark is not None and mark.get("kind") == "compaction":
        what = (
            f"{agent} summarised {mark.get('summarised', '?')} earlier messages and kept the "
            f"{mark.get('kept', '?')} before this one"
        )
        summary = BlockView("compaction", _cut(rw.summary_of(message)))
        return shown("Compaction point", [BlockView("meta", what), summary], "client")
    if mark is not None and mark.get("kind") == "seed":
        text = str(entry.content[0].get("text", "")) if entry.content else ""
        return shown("Restarted", [BlockView("compaction", _cut(text))], "seed")
    blocks = [_block(b, tools) for b in entry.content]
    if entry.role == "user" and blocks and blocks[0].kind == "text":
        blocks[0] = BlockView("text", _without_header(blocks[0].text))
    marker = "server" if rw.server_compaction(message) is not None else None
    return shown(_author(entry, agent), blocks, marker)


def _author(entry: TranscriptEntry, agent: str) -> str:
    if entry.role == "assistant":
        return agent
    if entry.author_name or entry.author_id:
        return str(entry.author_name or entry.author_id)
    if entry.content and all(b.get("type") == "tool_result" for b in entry.content):
        return "Tool results"
    return "User"


def _without_header(text: str) -> str:
    """A user message's text without its first line when that is the author header
    (``[Ada (U1) in Slack]``): the page shows the author beside it."""
    first, _, rest = text.partition("\n")
    if first.startswith("[") and first.endswith("]") and " in " in first:
        return rest
    return text


def _block(block: dict[str, Any], tools: dict[str, str]) -> BlockView:
    kind = block.get("type")
    if kind == "text":
        text = str(block.get("text", ""))
        stripped = text.strip()
        if stripped.startswith("[") and stripped.endswith("]") and "\n" not in stripped:
            return BlockView("meta", stripped[1:-1])
        if stripped.startswith("[Said in this thread") or stripped.startswith("[Earlier in"):
            return BlockView("meta", _cut(stripped))
        return BlockView("text", _cut(text))
    if kind == "tool_use":
        shown = json.dumps(block.get("input") or {}, indent=2, ensure_ascii=False)
        return BlockView("tool_use", _cut(shown), name=str(block.get("name", "tool")))
    if kind == "tool_result":
        name = tools.get(str(block.get("tool_use_id", "")), "tool")
        return BlockView(
            "tool_result",
            _cut(rw.result_text(block.get("content"))),
            name=name,
            is_error=block.get("is_error") is True,
        )
    if kind == "compaction":
        content = block.get("content")
        text = "(the summary failed: nothing was summarised)" if content is None else str(content)
        return BlockView("compaction", _cut(text))
    if kind in ("thinking", "redacted_thinking"):
        return BlockView("thinking", _cut(str(block.get("thinking", ""))))
    return BlockView("other", str(kind))


def _cut(text: str) -> str:
    if len(text) <= MAX_SHOWN:
        return text
    return text[:MAX_SHOWN] + f"\n… ({len(text) - MAX_SHOWN:,} more characters not shown)"


# -- keys --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeyView:
    key: str
    platform: str
    title: str  # "Slack", "Jira", ...
    label: str  # "C01::1763.0001", "AD-12", "acme/widgets#42"
    url: str | None  # a link out, http(s) only
    linked_at: datetime | None  # None: a key the session held once


def key_view(
    key: str,
    link: KeyLink | None,
    *,
    team_id: str | None,
    jira_url: str | None,
    github_url: str,
    dashboard_path: str | None = None,
) -> KeyView:
    try:
        parsed = ConversationKey.parse(key)
    except ValueError:
        return KeyView(key, "", "", key, None, link.created_at if link else None)
    stored = link.url if link is not None else None
    url = stored if _is_web(stored) else _link_out(parsed, team_id, jira_url, github_url)
    if parsed.platform == "dashboard":
        url = dashboard_path
    title = PLATFORM_TITLES.get(parsed.platform, parsed.platform)
    return KeyView(
        key, parsed.platform, title, parsed.label, url, link.created_at if link else None
    )


def github_web_url(api_url: str) -> str:
    """GitHub's web address for its REST API's address: ``https://api.github.com`` (and
    GitHub Enterprise Cloud's ``https://api.acme.ghe.com``) without its ``api.``, GitHub
    Enterprise Server's ``https://ghe.example/api/v3`` without its ``/api/v3``."""
    parts = urlsplit(api_url.strip().rstrip("/"))
    host, path = parts.netloc, parts.path
    if host.lower().startswith("api."):
        host = host[len("api.") :]
    if path.lower().endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    return urlunsplit((parts.scheme, host, path, "", ""))


def _is_web(url: str | None) -> bool:
    return url is not None and (url.startswith("https://") or url.startswith("http://"))


def _link_out(
    key: ConversationKey, team_id: str | None, jira_url: str | None, github_url: str
) -> str | None:
    if key.platform == "slack" and team_id:
        channel, thread = key.slack_place
        base = f"https://app.slack.com/client/{quote(team_id)}/{quote(channel)}"
        return f"{base}/thread/{quote(channel)}-{quote(thread)}" if thread else base
    if key.platform == "jira" and jira_url:
        return f"{jira_url.rstrip('/')}/browse/{quote(key.external_id)}"
    if key.platform == "github":
        repo, _, number = key.external_id.partition("#")
        if repo and number.isdigit():
            return f"{github_url.rstrip('/')}/{quote(repo)}/issues/{number}"
    return None


# -- usage -------------------------------------------------------------------------------------
@dataclass(frozen=True)
class TurnView:
    turn_id: str
    started_at: datetime
    seconds: float
    outcome: str
    model: str | None
    usage: Usage
    cost: float | None


@dataclass(frozen=True)
class UsageView:
    turns: list[TurnView]
    total: Usage
    cost: float  # of the turns with an estimate
    unpriced: int  # turns with tokens but no estimate (a model of no known family)


def price_of(model: str | None, usage: Usage) -> float | None:
    """The estimated cost of ``usage`` on ``model`` in US dollars; None when unknown."""
    if not any(
        (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens, usage.cache_write_tokens)
    ):
        return 0.0
    family = next((f for f in PRICES if model and f in model.lower()), None)
    if family is None:
        return None
    per_input, per_output = PRICES[family]
    dollars = (
        usage.input_tokens * per_input
        + usage.output_tokens * per_output
        + usage.cache_write_tokens * per_input * CACHE_WRITE_FACTOR
        + usage.cache_read_tokens * per_input * CACHE_READ_FACTOR
    )
    return dollars / 1_000_000


def usage_view(turns: Sequence[TurnRecord]) -> UsageView:
    shown = [
        TurnView(
            t.turn_id,
            t.started_at,
            max((t.finished_at - t.started_at).total_seconds(), 0.0),
            t.outcome,
            t.model,
            t.usage,
            price_of(t.model, t.usage),
        )
        for t in turns
    ]
    total = sum((t.usage for t in turns), Usage())
    cost = sum(t.cost for t in shown if t.cost is not None)
    return UsageView(shown, total, cost, sum(1 for t in shown if t.cost is None))


def dollars(value: float | None) -> str:
    """``$0.0123``: cents and below shown to four places, larger sums to two."""
    if value is None:
        return "unknown"
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def tokens(usage: Usage) -> int:
    return (
        usage.input_tokens
        + usage.output_tokens
        + usage.cache_read_tokens
        + usage.cache_write_tokens
    )
