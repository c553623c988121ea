"""The HTTP entry points, one module per job; ``routes.add_routes`` says which exist.

* ``POST /slack/events``: ``slack_events`` (signature, payload shape: ``slack_shapes``), into
  the Bolt app of ``bolt`` (also the Socket Mode entry). Always routed; 404 in Socket Mode.
* ``POST /webhooks/github``, ``POST /webhooks/jira``: ``webhooks`` puts the answer deadline
  around the integration's handler. Routed only when the integration and its secret are set.
* ``GET /healthz``: ``healthz``. ``GET /metrics``: ``metrics``.

In front of every route, ``bodies`` reads the request body whole within the server's deadline
(408 when too slow, 413 when too large); ``server`` holds those limits and aiohttp's own (idle
and header timeouts, line and header sizes), given where the server is started.

Handlers are built before the app starts. What they need from the running app (the store, the
worker, the Bolt app, the webhook handlers) they read through getters that answer None until
it has started; meanwhile they answer 503.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
