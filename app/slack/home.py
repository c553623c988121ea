"""The App Home tab: what one person sees of their own dealings with the bot.

``views.publish`` shows, on ``app_home_opened`` with ``tab: home``:

* **their recent conversations**: the live sessions they wrote in from Slack (the ten most
  recently active), each as its place and a link to its thread or DM, with when it was last
  active. Nothing said in them is shown, so nothing reaches the tab that the person could not
  read where it was said;
* **approvals waiting for them**: the ten newest pending approvals they may decide, read as
  such from the store (``approvals_waiting_for``): those they asked for, those decided by the
  members of a channel they wrote to the bot in, and every one for someone in ``APPROVERS``;
  each as its headline and a link to its card (the click itself checks again with Slack);
* **their running background jobs**, when jobs are set up (title, repository, since when);
* **today's token use** against ``USER_DAILY_TOKEN_BUDGET`` (and the team's against
  ``DAILY_TOKEN_BUDGET``), when those budgets are set;
* **a link to the dashboard**, when it is set up and ``PUBLIC_URL`` says where it is.

Someone the access policy leaves out (outside ``ALLOWED_USERS`` and not in ``APPROVERS``, or of
another organisation under ``EXTERNAL_USERS=ignore``: ``app.slack.home_access``) sees one
neutral line saying the bot is not available to them (``refused_view``), never an invitation
to talk, and nothing is read for them.

Refreshing: the tab is published again when something it shows changes for a person who has
opened it within the last hour (after a delivery of theirs is handled: a turn, a click on an
approval, a background job's end, which refreshes whoever asked for it). An approval asked
for, decided or expired refreshes its asker, the ``APPROVERS`` (the first
``APPROVERS_REFRESHED``) and everyone whose tab this replica last published with it; an
expiry is caught by a timer at the first expiry a published tab shows. Refreshes of one
person are coalesced
and run at most once every ``interval`` seconds: locally (a person has one refresh waiting at
most) and, best effort, across replicas (each publish first claims its time slot with
``remember_once``, so replicas sharing the database publish one person's tab once a slot).
Whether a person's tab is watched is one store lookup per refresh (a tab opened through any
replica counts from that moment). A
429 is retried after its ``Retry-After`` by the client (``app.slack.retry``); any other Slack
error is logged and the tab keeps what it showed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from slack_sdk.web.async_client import AsyncWebClient

from app.config import Settings
from app.errors import StoreError
from app.slack.cards import CLICK_KIND
from app.slack.failures import SLACK_FAILURES, describe
from app.slack.home_access import HomeAccess
from app.slack.home_view import (
    Budget,
    HomeContent,
    conversation_of,
    day_start,
    home_view,
    refused_view,
)
from app.store.base import Approval, Delivery, Job, SpokenIn

log = logging.getLogger(__name__)

REFRESH_SECONDS: Final = 5.0
APPROVERS_REFRESHED: Final = 20  # approvers whose tabs an approval's change refreshes
CONVERSATIONS: Final = 10
APPROVALS: Final = 10
JOBS: Final = 10
WATCH_HOURS: Final = 1  # a tab opened this long ago is still refreshed (hour slots: 1 to 2 h)
_USER_ID = re.compile(r"^[UW][A-Z0-9]{1,31}$")
# The scope app.turns.limits counts a person's tokens under, and the team's.
_USER_SCOPE: Final = "user:{}"
_WORKSPACE_SCOPE: Final = "workspace"

Handle = Callable[[Delivery], Awaitable[None]]


class HomeStore(Protocol):
    """What the Home tab reads of the store, and the refs that coordinate replicas."""

    async def sessions_spoken_in(
        self, agent: str, source: str, author_id: str, *, limit: int
    ) -> list[SpokenIn]: ...

    async def approvals_waiting_for(
        self, agent: str, user_id: str, *, approver: bool, limit: int
    ) -> list[Approval]: ...

    async def jobs_asked_by(self, user_id: str, *, active_only: bool) -> list[Job]: ...

    async def get_approval(self, approval_id: str) -> Approval | None: ...

    async def tokens_since(self, scope: str, since: datetime) -> int: ...

    async def remember_once(self, ref: str) -> bool: ...

    async def any_posted(self, refs: Sequence[str]) -> bool: ...


def people_of(delivery: Delivery) -> tuple[str | None, str | None]:
    """Whose tab a handled delivery may change: a Slack message's author, an approval click's
    clicker (with the approval's id: its asker is looked up), or whoever a delivery of
    another kind names as having asked (a background job's end); else None."""
    payload = delivery.payload

    def text(name: str) -> str | None:
        value = payload.get(name)
        return value if isinstance(value, str) else None

    if payload.get("kind") == CLICK_KIND:
        return text("user_id"), text("approval_id")
    if "kind" in payload:
        return text("asked_by"), None
    return (text("author_id") if payload.get("source") == "slack" else None), None


# -- publishing, coalesced ----------------------------------------------------------------------


class HomeTab:
    """Publishes people's Home tabs; see the module docstring for when and how often."""

    def __init__(
        self,
        client: AsyncWebClient,
        store: HomeStore,
        settings: Settings,
        *,
        clock: Callable[[], datetime],
        interval: float = REFRESH_SECONDS,
    ) -> None:
        self._client = client
        self._store = store
        self._settings = settings
        self._clock = clock
        self._interval = interval
        self._workspace_url: str | None = None
        self._access = HomeAccess(client, settings)
        self._waiting: dict[str, asyncio.Task[None]] = {}  # one refresh waiting per person
        self._opened: set[str] = set()  # people whose waiting refresh is for an opened tab
        self._tasks: set[asyncio.Task[None]] = set()  # every task running, for close()
        self._last: dict[str, float] = {}  # loop time of this replica's last publish per person
        self._showing: dict[str, frozenset[str]] = {}  # approvals each published tab shows
        self._expiry: dict[str, asyncio.TimerHandle] = {}  # refresh at a shown expiry
        self.published = 0  # views this replica published (for tests and logs)

    # -- triggers ----------------------------------------------------------------------------
    async def opened(self, user: str) -> None:
        """The person opened their Home tab: show it now (or as soon as the throttle allows)
        and keep refreshing it for a while."""
        if not _USER_ID.match(user):
            return
        try:
            await self._store.remember_once(self._watch_ref(user, self._clock()))
        except StoreError as exc:
            log.warning("Home tab of %s: could not note it was opened: %s", user, exc)
        self._opened.add(user)  # a refresh already waiting publishes, watched or not
        self._refresh(user)

    def changed(self, user: str) -> None:
        """Something the person's tab shows may have changed."""
        if _USER_ID.match(user):
            self._refresh(user)

    def approval_asked(self, approval: Approval) -> None:
        """An approval card was posted: refresh the tabs it may appear on (cheaply known)."""
        self._approval_changed(approval.id, approval.asked_by)

    def after(self, handle: Handle) -> Handle:
        """``handle`` (the worker's), then a refresh of whoever's tab the delivery touched."""

        async def handled(delivery: Delivery) -> None:
            try:
                await handle(delivery)
            finally:
                user, approval_id = people_of(delivery)
                if user:
                    self.changed(user)
                if approval_id:
                    self._spawn(self._decided(approval_id))

        return handled

    async def close(self) -> None:
        """Cancel the refreshes still waiting (they only publish what is in the store)."""
        for timer in self._expiry.values():
            timer.cancel()
        self._expiry.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- the refresh ---------------------------------------------------------------------------
    def _refresh(self, user: str) -> None:
        if user in self._waiting:
            return  # one refresh waiting per person: it will show this change too
        self._waiting[user] = self._spawn(self._run(user))

    def _spawn(self, job: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(job)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _decided(self, approval_id: str) -> None:
        try:
            approval = await self._store.get_approval(approval_id)
        except StoreError as exc:
            log.warning("Home tab: could not read approval %s: %s", approval_id, exc)
            approval = None
        self._approval_changed(approval_id, approval.asked_by if approval else None)

    def _approval_changed(self, approval_id: str, asker: str | None) -> None:
        """Refresh whoever may see the approval: its asker, the approvers, and the people
        whose tab (as this replica last published it) shows it."""
        showing = [user for user, ids in self._showing.items() if approval_id in ids]
        approvers = sorted(self._settings.actions.approvers)[:APPROVERS_REFRESHED]
        for user in {*showing, *approvers, *([asker] if asker else [])}:
            self.changed(user)

    def _remember_shown(self, user: str, approvals: list[Approval]) -> None:
        """Note the approvals ``user``'s tab now shows, and refresh it when the first of them
        expires (it leaves the tab then, without any event to say so)."""
        timer = self._expiry.pop(user, None)
        if timer is not None:
            timer.cancel()
        if not approvals:
            self._showing.pop(user, None)
            return
        self._showing[user] = frozenset(a.id for a in approvals)
        first = min(a.expires_at for a in approvals)
        delay = max((first - self._clock()).total_seconds(), 0.0) + 1.0
        loop = asyncio.get_running_loop()
        self._expiry[user] = loop.call_later(delay, self._expired, user)

    def _expired(self, user: str) -> None:
        self._expiry.pop(user, None)
        self.changed(user)

    async def _run(self, user: str) -> None:
        try:
            due = await self._due(user)
        except StoreError as exc:
            log.warning("Home tab of %s not refreshed: %s", user, exc)
            due = False
        finally:
            # From here on a change schedules another refresh: this one may read too early.
            self._waiting.pop(user, None)
            self._opened.discard(user)
        if due:
            self._last[user] = asyncio.get_running_loop().time()
            await self.publish(user)

    async def _due(self, user: str) -> bool:
        """Wait for this person's next slot; False when their tab is not being watched."""
        if user not in self._opened and not await self._watching(user):
            # Opened meanwhile (through this replica)? Then it is due all the same.
            return user in self._opened
        loop = asyncio.get_running_loop()
        wait = self._last.get(user, -self._interval) + self._interval - loop.time()
        if wait > 0:
            await asyncio.sleep(wait)
        while True:
            if await self._store.remember_once(self._slot_ref(user)):
                return True
            # This slot is taken (another replica published this person's tab): the next.
            await asyncio.sleep(self._until_next_slot())

    async def publish(self, user: str) -> bool:
        """Build and publish ``user``'s tab now; False when the store or Slack failed."""
        content = None
        try:
            if not await self._access.left_out(user):
                content = await self.content(user)
        except StoreError as exc:
            log.warning("Home tab of %s not built: %s", user, exc)
            return False
        except SLACK_FAILURES as exc:
            log.warning(
                "Home tab of %s not built: who they are is unknown: %s", user, describe(exc)
            )
            return False
        view = refused_view() if content is None else home_view(content)
        try:
            await self._client.views_publish(user_id=user, view=view)
        except SLACK_FAILURES as exc:
            log.warning("Home tab of %s not published: %s", user, describe(exc))
            return False
        self.published += 1
        self._remember_shown(user, content.approvals if content else [])
        return True

    async def content(self, user: str) -> HomeContent:
        """What ``user``'s tab shows now (``StoreError`` when the store cannot say)."""
        s = self._settings
        workspace = await self._workspace()
        spoken = await self._store.sessions_spoken_in(
            s.agent_name, "slack", user, limit=CONVERSATIONS
        )
        conversations = [c for c in (conversation_of(x, workspace) for x in spoken) if c]
        approvals = await self._store.approvals_waiting_for(
            s.agent_name, user, approver=user in s.actions.approvers, limit=APPROVALS
        )
        since = day_start(self._clock())
        budgets = []
        if s.actions.user_daily_token_budget > 0:
            used = await self._store.tokens_since(_USER_SCOPE.format(user), since)
            budgets.append(Budget("You", used, s.actions.user_daily_token_budget))
        if s.actions.daily_token_budget > 0:
            used = await self._store.tokens_since(_WORKSPACE_SCOPE, since)
            budgets.append(Budget("The team", used, s.actions.daily_token_budget))
        dashboard = (
            f"{s.public_url}/dashboard" if s.dashboard is not None and s.public_url else None
        )
        jobs = []
        if s.jobs is not None:
            jobs = (await self._store.jobs_asked_by(user, active_only=True))[:JOBS]
        return HomeContent(conversations, approvals, budgets, dashboard, workspace, jobs)

    async def _workspace(self) -> str | None:
        """The workspace's web address (``auth.test``), asked once and kept."""
        if self._workspace_url is None:
            with contextlib.suppress(*SLACK_FAILURES):
                url = (await self._client.auth_test()).get("url")
                self._workspace_url = url if isinstance(url, str) and url else None
        return self._workspace_url

    async def _watching(self, user: str) -> bool:
        now = self._clock()
        refs = [self._watch_ref(user, now - timedelta(hours=h)) for h in range(WATCH_HOURS + 1)]
        return await self._store.any_posted(refs)

    def _slot_ref(self, user: str) -> str:
        slot = int(self._clock().timestamp() // self._interval)
        return f"slack:home:{user}:{slot}"

    def _until_next_slot(self) -> float:
        now = self._clock().timestamp()
        return (int(now // self._interval) + 1) * self._interval - now + 0.01

    @staticmethod
    def _watch_ref(user: str, when: datetime) -> str:
        return f"slack:home-opened:{user}:{when.astimezone(UTC):%Y%m%d%H}"
