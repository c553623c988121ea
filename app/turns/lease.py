"""Holding a turn's leases: the delivery's (inbox) and the session's (one turn at a time).

While a turn runs, a heartbeat renews both every third of the lease. If either cannot be kept
(another holder took it over, or it could not be renewed before it ran out) the turn is
cancelled, so two replicas never answer the same message or run the same conversation at
once. A session reset or dropped mid-turn is not a loss: the turn finishes and its commit is
superseded. Work that holds no session lease (a chat command) keeps only its delivery claimed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from app.errors import StoreError
from app.store.base import Delivery, Opening, Session, Store

log = logging.getLogger(__name__)


@dataclass
class SessionLease:
    """The session a turn runs on and the fence it holds; swapped on a fresh-session retry."""

    session: Session
    fence: int
    committing: bool = False  # the commit releases the lease; renewals stop before it
    lost: bool = False
    released: bool = False  # committed: the commit released it, nothing left to release
    # The session's messages as read with the lease (by the claim), until a turn takes them.
    preloaded: list[dict[str, Any]] | None = field(default=None, repr=False)

    def take_preloaded(self) -> list[dict[str, Any]] | None:
        """The messages read with the lease, once (a retry on a fresh session reads its
        own)."""
        messages, self.preloaded = self.preloaded, None
        return messages


class Leases:
    """Acquires, keeps and releases the leases of one holder (this replica)."""

    def __init__(self, store: Store, *, holder: str, lease_seconds: float) -> None:
        self._store = store
        self.holder = holder
        self.seconds = lease_seconds
        # Claims (``Store.claim_turn``) whose opening no turn has taken over or given back
        # yet, by claim (a delivery claimed again after its lease lapsed is another claim),
        # with the loop time each was claimed at.
        self._opened: dict[tuple[int, int], float] = {}

    @property
    def _interval(self) -> float:
        return max(self.seconds / 3, 0.2)

    async def acquire(self, session: Session) -> SessionLease | None:
        """The session's lease, or None while another turn of it runs (anywhere)."""
        fence = await self._store.acquire_lease(session.id, self.holder, self.seconds)
        return None if fence is None else SessionLease(session, fence)

    def claimed(self, delivery: Delivery) -> None:
        """``delivery`` was just claimed: what its claim opened is now this holder's to take
        over (``acquire_for_key``) or give back (``release_unadopted``)."""
        if delivery.opening is not None:
            self._opened[_claim(delivery)] = asyncio.get_running_loop().time()

    async def acquire_for_key(
        self, key: str, delivery: Delivery | None = None
    ) -> tuple[Session | None, SessionLease | None]:
        """The live session ``key`` points to (None: none) and its lease (None: another turn
        of it runs), in one store call; the session is as it stands under the lease.

        With ``delivery``, what its claim opened (``Store.claim_turn``) is taken over instead,
        once, with no store call at all, when it was opened for ``key``; opened for another
        key, its lease is given back first. A lease claimed longer ago than a heartbeat's
        interval is renewed as it is taken over (nothing renewed it meanwhile); if it lapsed
        or its session ended meanwhile, the key is looked up afresh.
        """
        claimed_at = None if delivery is None else self._opened.pop(_claim(delivery), None)
        opening = None if delivery is None else delivery.opening
        if delivery is not None and opening is not None and claimed_at is not None:
            if delivery.lane != key:
                # Opened for another key (a job's or a click's lane): whatever session that
                # names, its lease must not block this one's.
                await self._release_opening(opening)
            elif opening.session is None or opening.fence is None:
                return opening.session, None
            elif await self._still_held(opening.session, opening.fence, claimed_at):
                lease = SessionLease(opening.session, opening.fence, preloaded=opening.messages)
                return opening.session, lease
        session, fence = await self._store.acquire_lease_for_key(key, self.holder, self.seconds)
        if session is None or fence is None:
            return session, None
        return session, SessionLease(session, fence)

    async def _still_held(self, session: Session, fence: int, claimed_at: float) -> bool:
        """Whether the claim's lease on ``session`` is still this holder's, renewing it when
        it was taken more than a heartbeat's interval ago. Held under the same fence, the
        session took no other turn meanwhile: what the claim read of it is current."""
        if asyncio.get_running_loop().time() - claimed_at < self._interval:
            return True
        return await self._store.renew_lease(session.id, self.holder, fence, self.seconds)

    async def start(
        self, agent: str, key: str, turn_id: str
    ) -> tuple[Session | None, SessionLease | None]:
        """A new session for ``key`` and its lease (``Store.start_session``), or the session
        another replica gave the key first and its lease (None: held)."""
        opened = await self._store.start_session(
            agent, key, self.holder, self.seconds, turn_id=turn_id
        )
        if opened.session is None or opened.fence is None:
            return opened.session, None
        lease = SessionLease(opened.session, opened.fence, preloaded=opened.messages)
        return opened.session, lease

    async def release_unadopted(self, delivery: Delivery) -> None:
        """Give back the session lease ``delivery``'s claim took, unless a turn took it over
        (that turn releases it, or its commit does) or it was given back already."""
        if self._opened.pop(_claim(delivery), None) is not None and delivery.opening is not None:
            await self._release_opening(delivery.opening)

    async def _release_opening(self, opening: Opening) -> None:
        if opening.session is not None and opening.fence is not None:
            with contextlib.suppress(StoreError):
                await self._store.release_lease(opening.session.id, self.holder, opening.fence)

    async def release(self, lease: SessionLease) -> None:
        if lease.released:
            return
        with contextlib.suppress(StoreError):
            await self._store.release_lease(lease.session.id, self.holder, lease.fence)

    @contextlib.asynccontextmanager
    async def heartbeat(
        self, delivery: Delivery, lease: SessionLease, turn: asyncio.Task[None]
    ) -> AsyncIterator[None]:
        """Keep both leases while the block runs; cancel ``turn`` once either is lost."""
        beat = asyncio.create_task(self._beat(delivery, lease, turn))
        try:
            yield
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    @contextlib.asynccontextmanager
    async def keep_claimed(self, delivery: Delivery) -> AsyncIterator[None]:
        """Extend the delivery's lease while the block runs (work without a session lease),
        so a slow Slack call never lets another worker run it again."""
        keeper = asyncio.create_task(self._keep(delivery))
        try:
            yield
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await keeper

    async def _keep(self, delivery: Delivery) -> None:
        while True:
            await asyncio.sleep(self._interval)
            with contextlib.suppress(StoreError):
                await self._store.extend_delivery(delivery.id, self.holder, self.seconds)

    async def _beat(
        self, delivery: Delivery, lease: SessionLease, turn: asyncio.Task[None]
    ) -> None:
        loop = asyncio.get_running_loop()
        held_until = loop.time() + self.seconds
        while not turn.done():
            await asyncio.sleep(self._interval)
            if lease.committing:
                return
            session_id, fence = lease.session.id, lease.fence
            try:
                kept = await self._store.extend_delivery(delivery.id, self.holder, self.seconds)
                if kept and not await self._store.renew_lease(
                    session_id, self.holder, fence, self.seconds
                ):
                    # Not ours any more: swapped for a fresh session meanwhile (fine), or the
                    # session was reset or dropped (the turn finishes; its commit is
                    # superseded), or another holder took it (a real loss).
                    kept = (lease.session.id, lease.fence) != (session_id, fence)
                    if not kept:
                        current = await self._store.get_session(session_id)
                        kept = current is None or current.status != "active"
            except StoreError as exc:
                log.warning("lease heartbeat failed: %s", exc)
                kept = loop.time() < held_until
            else:
                if kept:
                    held_until = loop.time() + self.seconds
            if not kept and not lease.committing:
                lease.lost = True
                turn.cancel()
                return


def _claim(delivery: Delivery) -> tuple[int, int]:
    """One claim of a delivery: its row and how many times it was claimed by then."""
    return delivery.id, delivery.attempts
