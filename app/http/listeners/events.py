"""Events: messages for the bot, the assistant's suggested prompts, the App Home tab.

* a message (``app_mention``, ``message``) is recorded by the middleware by the time it gets
  here; the worker answers it, so it is only acknowledged;
* someone opening the bot (``assistant_thread_started``, the DM's messages tab) is offered
  the suggested prompts (``app.slack.assistant``) if the access policy lets them speak;
* opening the App Home tab publishes the person's tab (``app.slack.home``).

Every other event is acknowledged by the last listener, registered by ``app.http.bolt``.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from app.http.listeners import BoltDeps, recorded
from app.slack.assistant import opened
from app.slack.policy import Speaker, decide


def register(app: AsyncApp, deps: BoltDeps) -> None:
    """Listen to the events above (each acknowledged)."""

    async def offer_prompts(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        where = opened(body)
        if deps.assistant is None or where is None:
            return
        if not decide(Speaker(where.user, where.channel, True, False), deps.trust).allowed:
            return
        await deps.assistant.offer_prompts(where, deps.store.remember_once)

    async def show_home(ack: AsyncAck, event: dict[str, Any]) -> None:
        await ack()
        user = event.get("user")
        if deps.home is not None and isinstance(user, str):
            await deps.home.opened(user)

    app.event("app_mention")(recorded)
    app.event("message")(recorded)
    app.event("assistant_thread_started")(offer_prompts)
    app.event("app_home_opened", matchers=[_messages_tab])(offer_prompts)
    app.event("assistant_thread_context_changed")(recorded)  # acknowledged; nothing to change
    app.event("app_home_opened", matchers=[_home_tab])(show_home)


async def _messages_tab(body: dict[str, Any]) -> bool:
    event = body.get("event")
    return isinstance(event, dict) and event.get("tab") == "messages"


async def _home_tab(event: dict[str, Any]) -> bool:
    """``app_home_opened`` for the Home tab (the messages tab is the assistant's)."""
    return event.get("tab") == "home"
