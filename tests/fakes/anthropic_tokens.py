"""Token accounting of the fake Anthropic API, prompt caching included.

A block costs ``ceil(len(json) / chars_per_token)`` tokens (at least one). The cacheable units
are the tools, the system blocks and the message blocks, in API order, each with a rolling
hash of the whole prefix up to it, so a cache entry matches only an identical prefix (with
``cache_control`` markers ignored). ``PromptCache.usage`` answers what the API would bill.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Segment:
    tokens: int
    breakpoint: bool
    digest: bytes  # hash of the whole prefix up to and including this segment


def strip_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list | tuple):
        return [strip_cache_control(v) for v in value]
    return value


def estimate(value: Any, chars_per_token: float = 4.0) -> int:
    return math.ceil(len(json.dumps(value)) / chars_per_token)


def text_tokens(text: str, chars_per_token: float = 4.0) -> int:
    return math.ceil(len(text) / chars_per_token)


def segments(body: dict[str, Any], chars_per_token: float = 4.0) -> list[Segment]:
    """Cacheable units in API order (tools, system, message blocks) with rolling hashes."""
    items: list[tuple[Any, bool]] = []
    for tool in body.get("tools") or []:
        items.append((("tool", tool), isinstance(tool, dict) and "cache_control" in tool))
    system = body.get("system")
    if isinstance(system, str) and system:
        items.append((("system", system), False))
    elif isinstance(system, list):
        for block in system:
            items.append((("system", block), isinstance(block, dict) and "cache_control" in block))
    for msg in body.get("messages") or []:
        if not isinstance(msg, dict):
            continue
        role, content = msg.get("role"), msg.get("content")
        if isinstance(content, list):
            for j, block in enumerate(content):
                cc = isinstance(block, dict) and "cache_control" in block
                items.append((("message", role, j == 0, block), cc))
        else:
            items.append((("message", role, True, content), False))
    if body.get("cache_control") and items:  # automatic caching: breakpoint on the last block
        items[-1] = (items[-1][0], True)

    digest = hashlib.sha256(str(body.get("model")).encode()).digest()
    out = []
    for item, cc in items:
        canonical = strip_cache_control(item)
        encoded = json.dumps(canonical, sort_keys=True).encode()
        digest = hashlib.sha256(digest + encoded).digest()
        tokens = max(1, estimate(canonical[-1], chars_per_token))
        out.append(Segment(tokens=tokens, breakpoint=cc, digest=digest))
    return out


@dataclass
class PromptCache:
    """The prefixes written to the cache so far, and the billing of a request against them."""

    min_cacheable_tokens: int = 0  # the real API: 1024+ depending on the model
    lookback: int = 20  # blocks before a breakpoint checked for earlier cache entries
    entries: set[bytes] = field(default_factory=set)

    def usage(self, segs: list[Segment], output_tokens: int) -> dict[str, Any]:
        """The ``usage`` object of an answer to a request of ``segs`` (and cache its prefixes)."""
        cum = list(itertools.accumulate(s.tokens for s in segs))
        total = cum[-1] if cum else 0
        breakpoints = [i for i, s in enumerate(segs) if s.breakpoint]
        read = creation = 0
        if breakpoints and cum[breakpoints[-1]] >= self.min_cacheable_tokens:
            last = breakpoints[-1]
            hit = -1
            for b in breakpoints:
                for p in range(b, max(-1, b - self.lookback), -1):
                    if segs[p].digest in self.entries and cum[p] >= self.min_cacheable_tokens:
                        hit = max(hit, p)
                        break
            read = cum[hit] if hit >= 0 else 0
            creation = cum[last] - read
            for b in breakpoints:
                if cum[b] >= self.min_cacheable_tokens:
                    self.entries.add(segs[b].digest)
        return {
            "input_tokens": total - read - creation,
            "cache_creation_input_tokens": creation,
            "cache_read_input_tokens": read,
            "cache_creation": {
                "ephemeral_5m_input_tokens": creation,
                "ephemeral_1h_input_tokens": 0,
            },
            "output_tokens": output_tokens,
            "service_tier": "standard",
        }
