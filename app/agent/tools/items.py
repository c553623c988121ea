"""The create and link tools for any tracker: file an item or verify one, then link it.

The GitHub and Jira tools differ only in their arguments, their client calls and their words
for the item; the flow (footer, first-writer-wins link, the sentences Claude reads back, and
refusals and upstream failures as error results) is written once, here.

The footer links back to the Slack thread only when the target is not public: a public
repository's readers get "Filed by Threadline" and the session id, never a link into the
workspace.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.agent.tools.base import ToolContext, ToolResult
from app.core import Audience
from app.errors import IntegrationError, NotFound, StoreError
from app.integrations.filing import (
    InvalidInput,
    linked_sentence,
    thread_link_or_none,
    upstream_failure,
    with_footer,
)
from app.integrations.item import Item


class ItemTool:
    """What a tracker's tools share: the item's names, its conversation key, and linking it."""

    name: str
    label: str  # "GitHub issue": what Claude is told it got
    noun: str  # "the issue": in the sentence about the link
    # The platform module's logger, so that log lines keep saying which tracker failed.
    log: logging.Logger
    # Filing and linking change another system: capped per turn, maybe approved first.
    writes = True

    async def target_audience(self, args: dict[str, Any]) -> Audience | None:
        """Who will read the item these arguments name; None: the tracker cannot tell."""
        return None

    def _key_for(self, agent: str, item: Item) -> str:
        """The conversation key under which comments on ``item`` come back."""
        raise NotImplementedError

    def _definition(
        self, description: str, properties: dict[str, Any], required: list[str]
    ) -> dict[str, Any]:
        """The Messages API tool definition; no argument beyond ``properties`` is accepted."""
        return {
            "name": self.name,
            "description": description,
            "input_schema": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        }

    async def _link(self, item: Item, ctx: ToolContext) -> tuple[str, bool]:
        """Register the item's key for this conversation: (sentence, linked here?)."""
        try:
            claim = await ctx.link_key(self._key_for(ctx.agent, item), item.url)
        except StoreError:
            self.log.warning("linking %s failed turn=%s", item.ref, ctx.turn_id, exc_info=True)
            return (
                "It could not be linked to this conversation because the database is "
                "unavailable, so comments on it will not come back here.",
                False,
            )
        return linked_sentence(claim, self.noun, self.noun), claim.registered

    def _failed(self, exc: IntegrationError, doing: str, ctx: ToolContext) -> ToolResult:
        self.log.warning("%s failed turn=%s: %s", self.name, ctx.turn_id, exc)
        return ToolResult(upstream_failure(exc, doing), is_error=True)


async def _internal() -> Audience:
    return Audience.INTERNAL


@dataclass(frozen=True)
class Filing:
    """A checked create request: the body Claude wrote and the client call that files it."""

    doing: str  # "create the issue in acme/widgets", for the failure sentence
    body: str  # without the footer, which is added just before filing
    file: Callable[[str], Awaitable[Item]]  # files the body, footer included
    # Who will read the item; a PUBLIC one gets no link to the Slack thread.
    audience: Callable[[], Awaitable[Audience]] = _internal


class CreateItemTool(ItemTool):
    """Files an item with a footer back to the thread, then links it to this conversation."""

    def _filing(self, args: dict[str, Any]) -> Filing:
        """The request in ``args``; raises InvalidInput for Claude to fix."""
        raise NotImplementedError

    def _created(self, item: Item) -> str:
        return f"{self.label} {item.ref} ({item.url})"

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            filing = self._filing(args)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        public = await filing.audience() is Audience.PUBLIC
        link = None if public else await thread_link_or_none(ctx.thread_link)
        try:
            item = await filing.file(with_footer(filing.body, link, ctx.session_id))
        except IntegrationError as exc:
            return self._failed(exc, filing.doing, ctx)
        # The item exists whether or not the link took, so this is never an error result:
        # an error would invite Claude to file it a second time.
        sentence, _ = await self._link(item, ctx)
        return ToolResult(f"Created {self._created(item)}. {sentence} Do not create it again.")


@dataclass(frozen=True)
class Lookup:
    """A checked link request: the item asked for and the client call that fetches it."""

    ref: str  # "acme/widgets#7", "AD-9": as asked for
    fetch: Callable[[], Awaitable[Item]]
    missing: str  # what Claude is told when there is no such item


class LinkItemTool(ItemTool):
    """Verifies that an item exists, then links it; one linked elsewhere is an error result."""

    def _lookup(self, args: dict[str, Any]) -> Lookup:
        """The request in ``args``; raises InvalidInput for Claude to fix."""
        raise NotImplementedError

    def _check_found(self, ref: str, item: Item) -> None:
        """Raise InvalidInput for an item found under ``ref`` that may not be linked."""

    async def run(self, args: dict[str, Any], ctx: ToolContext) -> ToolResult:
        try:
            lookup = self._lookup(args)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        try:
            item = await lookup.fetch()
        except NotFound:
            return ToolResult(lookup.missing, is_error=True)
        except IntegrationError as exc:
            return self._failed(exc, f"look up {lookup.ref}", ctx)
        try:
            self._check_found(lookup.ref, item)
        except InvalidInput as exc:
            return ToolResult(str(exc), is_error=True)
        # What was read of the item (its title, status) enters the conversation.
        ctx.read_from(await self.target_audience(args) or Audience.PUBLIC)
        sentence, linked = await self._link(item, ctx)
        # Jira's workflow status ("In Review") says more than open/closed, when there is one.
        status = item.status or item.state
        about = f"{self.label} {item.ref} “{item.title}” ({status}, {item.url})."
        if not linked:
            return ToolResult(f"{about} {sentence} It was not linked here.", is_error=True)
        return ToolResult(f"Linked {about} {sentence}")
