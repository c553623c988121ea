"""Prometheus metrics, on a registry owned by one app instance (no global state)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from app.store.base import Usage

_LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120, 300)


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
            "Calls to Slack, Jira and GitHub by outcome",
            ["service", "outcome"],
            registry=r,
        )
        self.deliveries = Counter(
            "threadline_deliveries",
            "Inbound deliveries by source and result",
            ["source", "result"],
            registry=r,
        )
        self.active_sessions = Gauge(
            "threadline_active_sessions", "Live sessions in the store", registry=r
        )
        self.in_flight = Gauge("threadline_turns_in_flight", "Turns running now", registry=r)

    # Observer protocol of the pipeline
    def turn_finished(self, outcome: str, seconds: float, usage: Usage) -> None:
        self.turns.labels(outcome=outcome).inc()
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

    def upstream(self, service: str, outcome: str) -> None:
        self.upstream_calls.labels(service=service, outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
