"""The Bolt app's listeners, one module per feature, each with a ``register(app, deps)``.

``app.http.bolt.build_bolt_app`` builds the Bolt app and registers them in this order::

    inbox          the global middleware: every payload is checked and recorded in the inbox
                   before it is acknowledged (messages, edits; the clicks of ``interactivity``)
    events         messages (recorded by then), the assistant's suggested prompts, App Home
    interactivity  approval cards, votes on answers and their reasons, stop buttons; the
                   thumbs-down form; every other click, shortcut and form acknowledged
    commands       ``/reset``

and last, the listener that acknowledges every other event. Bolt runs the first listener that
matches a payload, so that one must stay last.

Everything a listener needs comes in ``BoltDeps`` (nothing global).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from slack_bolt.async_app import AsyncAck
from slack_sdk.web.async_client import AsyncWebClient

from app.config import ActionSettings, TrustSettings
from app.metrics import Metrics
from app.slack.assistant import AssistantThreads
from app.slack.events import BotIdentity
from app.slack.follow import Following
from app.slack.home import HomeTab
from app.store.base import Store

# The Slack edge's log lines keep the logger name they had when the edge was one module, so
# log queries and alerts on it keep working.
LOGGER: Final = "app.http.bolt"

# Matches every event type, action, shortcut and form: the listeners that only acknowledge.
EVERYTHING: Final = re.compile(".*")


@dataclass(frozen=True)
class BoltDeps:
    """The collaborators of the listeners, handed over once when the Bolt app is built."""

    client: AsyncWebClient
    store: Store
    agent: str
    bot: Callable[[], BotIdentity]  # from auth.test at start
    wake: Callable[[], None]  # the worker: a delivery is waiting
    trust: TrustSettings
    actions: ActionSettings
    metrics: Metrics
    clock: Callable[[], datetime]
    following: Following | None  # FOLLOW_THREADS: threads the bot answers unmentioned
    home: HomeTab | None  # publishes a person's App Home tab
    assistant: AssistantThreads | None  # offers the suggested prompts


async def recorded(ack: AsyncAck) -> None:
    # The middleware has stored the message; the worker answers it.
    await ack()
