"""Prometheus metrics, on a registry owned by one app instance (no global state).

What feeds each family:

* ``threadline_turns_total{outcome}``, ``threadline_turn_seconds``,
  ``threadline_time_to_first_token_seconds``, ``threadline_model_tokens_total{kind}``: the turn
  pipeline, through the ``Observer`` protocol (``turn_finished``, ``first_token``).
* ``threadline_compactions_total{kind}`` (``server``: the API summarised; ``client``: we did)
  and ``threadline_reseeded_sessions_total``: the pipeline too (``compacted``, ``reseeded``),
  once the turn that did it is committed.
* ``threadline_upstream_calls_total{service,outcome}``: Slack through the app's
  ``CountingWebClient``, Anthropic through ``anthropic_middleware`` (one count per HTTP
  attempt, retries included), Jira and GitHub through ``CountingTransport`` under the app's
  httpx client; ``app.integrations.clients`` builds all three.
* ``threadline_jobs_total{runner,outcome}`` and ``threadline_job_seconds{runner}``: background
  jobs, through ``JobObserver`` (``job_started``, ``job_finished``).
* ``threadline_feedback_clicks_total{vote}`` and ``threadline_feedback_reasons_total``: the
  Slack edge, when a click on an answer's feedback buttons (or a thumbs-down's reason) is
  recorded; a changed vote is a second click.
* ``threadline_feedback_votes{vote}``: the votes stored now (one per person per answer), read
  from the store when ``/metrics`` is scraped (``observe_votes``).
* ``threadline_active_sessions``, ``threadline_inbox_pending``, ``threadline_turns_in_flight``:
  set from the store and the worker when ``/metrics`` is scraped (``observe_state``).
* ``threadline_slack_calls_total{method}`` (the Slack client, each call once, retries not
  counted again) and ``threadline_store_transactions_total{kind}`` (``write``, ``read``) with
  ``threadline_store_statements_total`` (the SQL store): what a turn costs, in round trips.

Upstream outcomes are ``ok``, ``rate_limited`` (429), ``overloaded`` (529), ``error`` (any
other answer that is an error) and ``unreachable`` (connection failure or timeout).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import anthropic
import httpx
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.core import Usage

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


def outcome_of_status(status: int) -> str:
    """The upstream outcome label for an HTTP status."""
    if status < 400:
        return "ok"
    if status == 429:
        return "rate_limited"
    if status == 529:
        return "overloaded"
    return "error"


class Metrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turns = Counter("threadline_turns", "Turns by outcome", ["outcome"], registry=r)
        self.turn_seconds = Histogram(
            "threadline_turn_seconds", "Turn latency", buckets=_LATENCY_BUCKETS, registry=r
        )
        self.first_token_seconds = Histogram(
            "threadline_time_to_first_token_seconds",
            "Time from turn start to the first streamed token",
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.tokens = Counter(
            "threadline_model_tokens", "Model tokens by kind", ["kind"], registry=r
        )
        self.upstream_calls = Counter(
            "threadline_upstream_calls",
            "Calls to Slack, Anthropic, Jira and GitHub by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.slack_calls = Counter(
            "threadline_slack_calls", "Slack Web API calls by method", ["method"], registry=r
        )
        self.store_transactions = Counter(
            "threadline_store_transactions",
            "Store transactions by kind (write, read)",
            ["kind"],
            registry=r,
        )
        self.store_statements = Counter(
            "threadline_store_statements", "SQL statements run by the store", registry=r
        )
        self.active_sessions = Gauge(
            "threadline_active_sessions", "Live sessions in the store", registry=r
        )
        self.inbox_pending = Gauge(
            "threadline_inbox_pending", "Deliveries waiting in the inbox", registry=r
        )
        self.in_flight = Gauge("threadline_turns_in_flight", "Turns running now", registry=r)
        self.compactions = Counter(
            "threadline_compactions",
            "Conversations compacted, by who summarised them (server: the API; client: us)",
            ["kind"],
            registry=r,
        )
        for kind in ("server", "client"):
            self.compactions.labels(kind=kind)  # both series exist from the start, at 0
        self.reseeded_sessions = Counter(
            "threadline_reseeded_sessions",
            "Dropped conversations started over from their Slack thread's history",
            registry=r,
        )
        self.feedback_clicks = Counter(
            "threadline_feedback_clicks",
            "Clicks on answers' feedback buttons recorded (changing a vote is another click), "
            "by vote",
            ["vote"],
            registry=r,
        )
        self.feedback_votes = Gauge(
            "threadline_feedback_votes",
            "Votes on answers stored now (one per person per answer), by vote",
            ["vote"],
            registry=r,
        )
        for vote in ("up", "down"):
            self.feedback_clicks.labels(vote=vote)
            self.feedback_votes.labels(vote=vote)
        self.jobs = Counter(
            "threadline_jobs",
            "Background jobs by runner and outcome (started, succeeded, failed, cancelled, "
            "expired, not_started)",
            ["runner", "outcome"],
            registry=r,
        )
        self.job_seconds = Histogram(
            "threadline_job_seconds",
            "How long background jobs ran until they ended, by runner",
            ["runner"],
            buckets=(10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400, 86400),
            registry=r,
        )
        self.dashboard_signins = Counter(
            "threadline_dashboard_signins",
            "Sign-in attempts to the dashboard by method (token, slack) and outcome "
            "(ok, refused, limited, unavailable)",
            ["method", "outcome"],
            registry=r,
        )
        self.feedback_reasons = Counter(
            "threadline_feedback_reasons",
            "Reasons given in the thumbs-down modal",
            registry=r,
        )
        self.refused = Counter(
            "threadline_refused_messages",
            "Messages not answered because of who sent them or where, by surface and reason",
            ["surface", "reason"],
            registry=r,
        )

    # Observer protocol of the pipeline
    def turn_finished(self, outcome: str, seconds: float | None, usage: Usage) -> None:
        """Count a turn; ``seconds`` is None for turns that did not run the model (commands,
        superseded commits), so they do not skew the latency histogram."""
        self.turns.labels(outcome=outcome).inc()
        if seconds is not None:
            self.turn_seconds.observe(seconds)
        for kind, value in (
            ("input", usage.input_tokens),
            ("output", usage.output_tokens),
            ("cache_read", usage.cache_read_tokens),
            ("cache_write", usage.cache_write_tokens),
        ):
            if value:
                self.tokens.labels(kind=kind).inc(value)

    def first_token(self, seconds: float) -> None:
        self.first_token_seconds.observe(seconds)

    def compacted(self, kind: str) -> None:
        self.compactions.labels(kind=kind).inc()

    def reseeded(self) -> None:
        self.reseeded_sessions.inc()

    def turn_refused(self, surface: str, reason: str) -> None:
        """The turn pipeline's name for ``refusal`` (its ``Observer`` protocol)."""
        self.refusal(surface, reason)

    def job_started(self, runner: str) -> None:
        self.jobs.labels(runner=runner, outcome="started").inc()

    def job_finished(self, runner: str, outcome: str, seconds: float | None) -> None:
        self.jobs.labels(runner=runner, outcome=outcome).inc()
        if seconds is not None:
            self.job_seconds.labels(runner=runner).observe(max(seconds, 0.0))

    def refusal(self, surface: str, reason: str) -> None:
        """A message was acknowledged but not answered (an untrusted commenter, a channel
        outside the allow-list...)."""
        self.refused.labels(surface, reason).inc()

    def feedback_vote(self, vote: str) -> None:
        """A click on an answer's feedback buttons was recorded (``up`` or ``down``)."""
        self.feedback_clicks.labels(vote=vote).inc()

    def observe_votes(self, totals: Iterable[tuple[str, int]]) -> None:
        """The votes the store holds now: (value, how many) pairs."""
        for vote, count in totals:
            self.feedback_votes.labels(vote=vote).set(count)

    def feedback_reason(self) -> None:
        self.feedback_reasons.inc()

    def dashboard_signin(self, method: str, outcome: str) -> None:
        self.dashboard_signins.labels(method=method, outcome=outcome).inc()

    def upstream(self, service: str, outcome: str) -> None:
        self.upstream_calls.labels(service=service, outcome=outcome).inc()

    def slack_call(self, method: str) -> None:
        self.slack_calls.labels(method=method).inc()

    def store_activity(self, kind: str) -> None:
        """The SQL store began a transaction (``write``, ``read``) or ran a ``statement``."""
        if kind == "statement":
            self.store_statements.inc()
        else:
            self.store_transactions.labels(kind=kind).inc()

    def observe_state(self, *, active_sessions: int, inbox_pending: int, in_flight: int) -> None:
        """Gauges that describe the present, refreshed when ``/metrics`` is scraped."""
        self.active_sessions.set(active_sessions)
        self.inbox_pending.set(inbox_pending)
        self.in_flight.set(in_flight)

    async def anthropic_middleware(
        self, request: Any, call_next: Callable[[Any], Awaitable[Any]]
    ) -> Any:
        """``AsyncAnthropic(middleware=[metrics.anthropic_middleware])``: counts every attempt.

        The SDK runs its middleware inside its retry loop and hands back every HTTP response,
        errors included; connection failures and timeouts raise instead.
        """
        try:
            response = await call_next(request)
        except anthropic.APIConnectionError:
            self.upstream("anthropic", "unreachable")
            raise
        self.upstream("anthropic", outcome_of_status(int(response.status_code)))
        return response

    def render(self) -> bytes:
        return generate_latest(self.registry)


class CountingTransport(httpx.AsyncBaseTransport):
    """An httpx transport that counts each request by service and outcome.

    ``service_of`` names the service a URL belongs to (``jira``, ``github``); the counting
    sits below httpx's client, so connection failures and timeouts are counted too.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        metrics: Metrics,
        service_of: Callable[[httpx.URL], str],
    ) -> None:
        self._inner = inner
        self._metrics = metrics
        self._service_of = service_of

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        service = self._service_of(request.url)
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            self._metrics.upstream(service, "unreachable")
            raise
        self._metrics.upstream(service, outcome_of_status(response.status_code))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()
