"""The value types every layer shares: inbound messages, conversation keys, usage, audience.

This package is the bottom layer: it imports nothing else of ``app`` (import-linter checks it),
so the store, the agent, the surfaces and the turn pipeline can all speak the same types.
"""

from __future__ import annotations

from app.core.audience import Audience
from app.core.inbound import Inbound
from app.core.keys import ConversationKey, KeyClaim
from app.core.usage import Usage

__all__ = ["Audience", "ConversationKey", "Inbound", "KeyClaim", "Usage"]
