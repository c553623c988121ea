"""Background jobs' deliveries: a runner's event, and a run's end coming home as a turn.

* ``job_event`` (a verified Anthropic webhook): the job's runner is asked how it stands and a
  run that ended is settled (``JobService``). A runner that cannot be reached leaves the
  delivery to be retried when its lease lapses, a few times.
* ``job_result`` (recorded once per run when it ends): the result enters the session as a user
  message authored ``job {title}`` with the runner's text quoted verbatim, and a turn reports
  it. There is no place it came from, so the answer goes to the first linked surface in
  ``RESULT_ROUTE`` order (Jira, Slack, GitHub by default) whose readers may see this
  conversation (the audience rule: an internal conversation's result never goes to a public
  repository or a Slack Connect thread), or else to another place it lives (its dashboard
  page); the Slack thread gets a one-line notice when it went elsewhere. The turn passes no
  limits and offers no tools: it reports, it does not act (a result cannot start another job
  by itself).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Final

from app.core import Audience, ConversationKey, Inbound
from app.core.steps import TaskStep
from app.core.text import clean_name, quote
from app.errors import IntegrationError
from app.integrations.jobs import JOB_EVENT_KIND, JOB_RESULT_KIND, JobService
from app.integrations.jobs.service import JOB_AUTHOR
from app.integrations.jobs.steps import ended_step
from app.store.base import Delivery, Session, Store
from app.surfaces.base import SurfaceRegistry
from app.turns.routing import AudiencePolicy, ReplyRouter

log = logging.getLogger(__name__)

JOB_KINDS: Final = (JOB_EVENT_KIND, JOB_RESULT_KIND)
# Tries of a runner event whose runner cannot be reached, before it is left to polling/expiry.
EVENT_ATTEMPTS: Final = 3

_ENDED: Final = {
    "succeeded": "finished",
    "failed": "failed",
    "cancelled": "was cancelled",
    "expired": "expired",
}


def opening_step(delivery: Delivery) -> tuple[str, TaskStep] | None:
    """The step a turn telling a run's end opens with (the job's, finished); None for any
    other delivery."""
    if delivery.payload.get("kind") != JOB_RESULT_KIND:
        return None
    return ended_step(delivery.payload)


def result_text(payload: dict[str, Any], *, timeout_minutes: int, quoted: bool) -> str:
    """What a run's end says to Claude. ``quoted``: quote the runner's text here (a surface
    that quotes the whole message itself, a tracker's, gets it plain)."""
    title = clean_name(str(payload.get("title") or ""), "untitled")
    status = str(payload.get("status") or "")
    lines = [
        f"[Background job {payload.get('job_id')} “{title}” {_ENDED.get(status, status)}]",
    ]
    result = payload.get("result")
    if status == "expired":
        lines.append(f"It sent no report within {timeout_minutes} minutes and was stopped.")
    elif result:
        lines.append("What it reported, verbatim:")
        lines.append(quote(str(result)) if quoted else str(result))
    links = [str(link) for link in payload.get("links") or []]
    if links:
        lines.append("Links it reported:")
        listing = "\n".join(links)
        lines.append(quote(listing) if quoted else listing)
    lines.append("Tell the conversation how the job went, briefly, with its links.")
    return "\n".join(lines)


class JobTurns:
    """Turns background jobs' deliveries into settled runs and into result turns."""

    def __init__(
        self,
        store: Store,
        jobs: JobService,
        surfaces: SurfaceRegistry,
        *,
        holder: str,
        policy: AudiencePolicy,
        route: Sequence[str],
    ) -> None:
        self._store = store
        self._jobs = jobs
        self._surfaces = surfaces
        self._holder = holder
        self._policy = policy
        self._route = tuple(route)
        self._router = ReplyRouter(surfaces, store, policy=policy, route=route)

    async def take(self, delivery: Delivery) -> Inbound | None:
        """Handle a job delivery; the message of its result turn, when it needs one (the
        caller runs it as a turn). None: the delivery is finished (or left to retry)."""
        if delivery.payload.get("kind") == JOB_EVENT_KIND:
            await self._event(delivery)
            return None
        return await self._result(delivery)

    async def _event(self, delivery: Delivery) -> None:
        runner_id = str(delivery.payload.get("runner_id") or "")
        try:
            settled = await self._jobs.on_runner_event(runner_id)
        except IntegrationError as exc:
            if delivery.attempts < EVENT_ATTEMPTS:
                # Left claimed: its lease lapses and it is tried again.
                log.warning("runner event not read yet (%s); it will be retried", exc)
                return
            log.error("runner event given up after %d tries: %s", delivery.attempts, exc)
            await self._store.finish_delivery(delivery.id, self._holder, "failed", "runner down")
            return
        await self._store.finish_delivery(delivery.id, self._holder, "done", settled or "running")

    async def _result(self, delivery: Delivery) -> Inbound | None:
        payload = delivery.payload
        if delivery.attempts <= 1:  # an operator's cancel is counted by the bot that tells it
            self._jobs.count_end(payload)
        session = await self._store.get_session(str(payload.get("session_id") or ""))
        if session is None or session.status != "active":
            log.info("job result for a conversation that ended; not reported")
            await self._finish(delivery, "conversation ended")
            return None
        found = await self.destination(session)
        if found is None:
            log.warning("job result: no linked place may show it; kept in the job only")
            await self._finish(delivery, "nowhere to report")
            return None
        key, place = found
        owner = await self._store.resolve(str(key))
        if owner is None or owner.id != session.id:
            # Idle past its TTL (or the key moved on): a result must not start a conversation.
            log.info("job result for a conversation that is no longer live; not reported")
            await self._finish(delivery, "conversation ended")
            return None
        surface = self._surfaces[key.platform]
        text = result_text(
            payload,
            timeout_minutes=self._jobs.timeout_seconds // 60,
            quoted=not surface.is_item,
        )
        author_id = f"{JOB_AUTHOR}{payload.get('job_id')}"
        author_name = f"job {clean_name(str(payload.get('title') or ''), 'untitled')}"
        if surface is self._surfaces.home:
            channel, thread = key.slack_place
            # Told in Slack like the asker's own turn: it counts against them and the
            # channel, and the answer streams to them (Slack streams only to a user).
            asked_by = str(payload.get("asked_by") or "")
            if asked_by:
                author_id = asked_by
            return Inbound(
                source=key.platform,
                key=str(key),
                text=text,
                channel=channel,
                thread_ts=thread,
                is_dm=channel.startswith("D"),
                audience=place.value,
                author_id=author_id,
                author_name=author_name,
            )
        urls = {link.key: link.url for link in await self._store.keys_for(session.id)}
        return Inbound(
            source=key.platform,
            key=str(key),
            text=text,
            item_ref=key.label,
            item_url=urls.get(str(key)),
            audience=place.value,
            author_id=author_id,
            author_name=author_name,
        )

    async def destination(self, session: Session) -> tuple[ConversationKey, Audience] | None:
        """Where a result of ``session`` goes (``RESULT_ROUTE`` order, the audience rule),
        with who reads it there; None when no linked place may show it."""
        links = await self._store.keys_for(session.id)
        content = Audience(session.audience)
        while (key := self._router.result_destination(links)) is not None:
            if (place := await self._allowed(key, content)) is not None:
                return key, place
            links = [link for link in links if link.key != str(key)]
        # None of the route's places: another place the conversation lives (its dashboard page).
        for link in links:
            key = ConversationKey.parse(link.key)
            if key.platform in self._route or key.platform not in self._surfaces:
                continue
            if (place := await self._allowed(key, content)) is not None:
                return key, place
        return None

    async def _allowed(self, key: ConversationKey, content: Audience) -> Audience | None:
        """Who reads ``key``'s place, when the audience rule lets ``content`` go there."""
        surface = self._surfaces.for_key(key)
        place = await surface.place_audience(key) if surface else Audience.PUBLIC
        if self._policy.public_replies == "allow" or place.allows(content):
            return place
        return None

    async def _finish(self, delivery: Delivery, why: str) -> None:
        await self._store.finish_delivery(delivery.id, self._holder, "done", why)
