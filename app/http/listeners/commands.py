"""Slash commands: ``/reset`` starts the conversation afresh.

It follows the access policy of messages (``app.slack.policy``, as a command); a refusal, the
command's help or the reset's result is the command's answer.
"""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from app.errors import StoreError
from app.http.listeners import LOGGER, BoltDeps
from app.slack.events import RESET_HELP, plan_reset
from app.slack.policy import command_speaker, decide
from app.turns.commands import reset_conversation

log = logging.getLogger(LOGGER)


def register(app: AsyncApp, deps: BoltDeps) -> None:
    """Listen to ``/reset``."""
    store, agent, bot, trust, metrics = deps.store, deps.agent, deps.bot, deps.trust, deps.metrics

    @app.command("/reset")
    async def reset_command(ack: AsyncAck, command: dict[str, Any]) -> None:
        decision = decide(command_speaker(command, bot()), trust, command=True)
        if not decision.allowed:
            metrics.refusal("slack", str(decision.reason))
            log.info("/reset by %s refused: %s", command.get("user_id"), decision.reason)
            if decision.note:
                await ack(text=decision.note)
            else:
                await ack()
            return
        plan = plan_reset(command, agent=agent)
        if plan.key is None:
            await ack(text=plan.refusal or RESET_HELP)
            return
        try:
            result = await reset_conversation(
                store, plan.key, where=plan.where, cause=f"/reset by {command.get('user_id')}"
            )
        except StoreError as exc:
            log.error("/reset failed: %s", exc)
            await ack(
                text="I couldn't reset right now (my database is unavailable). Please try again."
            )
            return
        await ack(text=result.text)
