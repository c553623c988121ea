"""Reading back what the fake Anthropic API received, for assertions.

``i`` indexes ``requests`` (every ``POST /v1/messages`` body, in order; -1 is the newest).
"""

from __future__ import annotations

from typing import Any

from tests.fakes.anthropic_steps import texts


class RecordedRequests:
    requests: list[dict[str, Any]]
    request_headers: list[dict[str, str]]

    def _messages(self, i: int) -> list[dict[str, Any]]:
        msgs = self.requests[i].get("messages") or []
        return [m for m in msgs if isinstance(m, dict)]

    def last_user_texts(self, i: int = -1) -> list[str]:
        """Every text block of every user message in request ``i`` (tool results skipped)."""
        return [t for m in self._messages(i) if m.get("role") == "user" for t in texts(m)]

    def newest_user_text(self, i: int = -1) -> str:
        """The first text block of the last user message of request ``i``: what the person
        wrote, with its header (context and the audience line follow it)."""
        users = [m for m in self._messages(i) if m.get("role") == "user" and texts(m)]
        return texts(users[-1])[0] if users else ""

    def system_of(self, i: int = -1) -> str:
        system = self.requests[i].get("system")
        if isinstance(system, list):
            return "\n".join(str(b.get("text", "")) for b in system if isinstance(b, dict))
        return str(system or "")

    def tools_of(self, i: int = -1) -> list[str]:
        return [str(t.get("name")) for t in self.requests[i].get("tools") or []]

    def tool_results(self, i: int = -1) -> list[dict[str, Any]]:
        return [
            b
            for m in self._messages(i)
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_result"
        ]

    def betas_of(self, i: int = -1) -> list[str]:
        """The ``anthropic-beta`` header of request ``i``, split."""
        header = self.request_headers[i].get("anthropic-beta", "")
        return [b.strip() for b in header.split(",") if b.strip()]

    def blocks_of(self, kind: str, i: int = -1) -> list[dict[str, Any]]:
        """Every block of type ``kind`` in the messages of request ``i``, in order."""
        return [
            b
            for m in self._messages(i)
            if isinstance(m.get("content"), list)
            for b in m["content"]
            if isinstance(b, dict) and b.get("type") == kind
        ]
