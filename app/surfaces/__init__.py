"""Surfaces: the places a conversation can be reached, one module each.

``base`` defines the ``Surface`` protocol and the registry; ``slack`` is the surface where
conversations start; ``comments`` is what the trackers share, and ``github`` / ``jira`` register
a tracker's surface together with its tools and webhook (``integration``). To add a surface,
add a module implementing ``Surface`` and register it in ``configured_integrations`` (an
integration) or where the app is composed (a surface of its own, like Slack).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Final

import httpx

from app.config import Settings
from app.surfaces.base import Surface, SurfaceRegistry
from app.surfaces.github import GitHubSurface, github_integration
from app.surfaces.integration import Integration
from app.surfaces.jira import JiraSurface, jira_integration
from app.surfaces.slack import SlackSurface

__all__ = ["PLATFORMS", "Integration", "Surface", "SurfaceRegistry", "configured_integrations"]

# Every platform a conversation key can name (for operators' filters).
PLATFORMS: Final = tuple(s.platform for s in (SlackSurface, JiraSurface, GitHubSurface))


def configured_integrations(
    settings: Settings,
    http: httpx.AsyncClient,
    remember: Callable[[str], Awaitable[None]],
) -> list[Integration]:
    """The integrations the settings turn on, in a stable order (GitHub, then Jira)."""
    found: list[Integration] = []
    if settings.github is not None:
        found.append(github_integration(settings.github, http, remember))
    if settings.jira is not None:
        found.append(jira_integration(settings.jira, http, remember))
    return found
