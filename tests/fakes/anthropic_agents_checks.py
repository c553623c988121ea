"""What the fake Managed Agents API accepts: the checks of a session's create and send bodies.

Each raises ``ApiError`` (400 ``invalid_request_error``, 404 ``not_found_error``) with a
message naming the field, as the real API does; limits are the SDK's documented ones.
"""

from __future__ import annotations

from typing import Any

from tests.fakes.anthropic_steps import ApiError, bad_request

CREATE_FIELDS = {
    "agent",
    "environment_id",
    "budget",
    "initial_events",
    "metadata",
    "resources",
    "title",
    "vault_ids",
}
INITIAL_TYPES = ("user.message", "user.define_outcome")
SENDABLE_TYPES = (
    "user.message",
    "user.interrupt",
    "user.tool_confirmation",
    "user.custom_tool_result",
    "user.define_outcome",
)
RESOURCE_TYPES = ("github_repository", "file", "memory_store")
MAX_INITIAL_EVENTS = 50
MAX_METADATA_PAIRS, MAX_KEY_CHARS, MAX_VALUE_CHARS = 16, 64, 512


def check_create(
    body: dict[str, Any], agents: dict[str, Any], environments: dict[str, Any]
) -> tuple[str, int, list[dict[str, Any]]]:
    """The agent id, its version and the initial events of a valid create body."""
    for name in body:
        if name not in CREATE_FIELDS:
            raise bad_request(f"{name}: Extra inputs are not permitted")
    agent_id, version = _agent(body.get("agent"), agents)
    environment_id = body.get("environment_id")
    if not isinstance(environment_id, str) or not environment_id:
        raise bad_request("environment_id: Field required")
    if environment_id not in environments:
        raise ApiError(404, "not_found_error", f"environment {environment_id} not found")
    title = body.get("title")
    if title is not None and not isinstance(title, str):
        raise bad_request("title: Input should be a valid string")
    _metadata(body.get("metadata", {}))
    resources = body.get("resources", [])
    if not isinstance(resources, list):
        raise bad_request("resources: Input should be a valid list")
    for i, resource in enumerate(resources):
        _resource(resource, f"resources.{i}")
    budget = body.get("budget")
    if budget is not None and (not isinstance(budget, dict) or budget.get("type") != "limit"):
        raise bad_request("budget: Input should be a limit object")
    events = body.get("initial_events", [])
    if not isinstance(events, list) or len(events) > MAX_INITIAL_EVENTS:
        raise bad_request(f"initial_events: at most {MAX_INITIAL_EVENTS} events")
    for i, event in enumerate(events):
        _event(event, f"initial_events.{i}", INITIAL_TYPES)
    return agent_id, version, events


def check_send(body: dict[str, Any]) -> list[dict[str, Any]]:
    """The events of a valid send body."""
    for name in body:
        if name != "events":
            raise bad_request(f"{name}: Extra inputs are not permitted")
    events = body.get("events")
    if not isinstance(events, list) or not events:
        raise bad_request("events: List should have at least 1 item")
    for i, event in enumerate(events):
        _event(event, f"events.{i}", SENDABLE_TYPES)
    return events


def _agent(agent: Any, agents: dict[str, Any]) -> tuple[str, int]:
    if isinstance(agent, str) and agent:
        agent_id, version = agent, None
    elif isinstance(agent, dict) and agent.get("type") == "agent" and agent.get("id"):
        agent_id, version = str(agent["id"]), agent.get("version")
    else:
        raise bad_request("agent: Field required (an agent id or {type: agent, id})")
    known = agents.get(agent_id)
    if known is None or (version is not None and not 1 <= int(version) <= known["version"]):
        raise ApiError(404, "not_found_error", f"agent {agent_id} not found")
    return agent_id, int(version or known["version"])


def _metadata(metadata: Any) -> None:
    if not isinstance(metadata, dict):
        raise bad_request("metadata: Input should be a valid dictionary")
    if len(metadata) > MAX_METADATA_PAIRS:
        raise bad_request(f"metadata: at most {MAX_METADATA_PAIRS} pairs")
    for key, value in metadata.items():
        if len(key) > MAX_KEY_CHARS:
            raise bad_request(f"metadata: key {key[:20]!r}... longer than {MAX_KEY_CHARS}")
        if not isinstance(value, str):
            raise bad_request(f"metadata.{key}: Input should be a valid string")
        if len(value) > MAX_VALUE_CHARS:
            raise bad_request(f"metadata.{key}: longer than {MAX_VALUE_CHARS} characters")


def _resource(resource: Any, where: str) -> None:
    if not isinstance(resource, dict) or resource.get("type") not in RESOURCE_TYPES:
        raise bad_request(f"{where}.type: Input should be one of {', '.join(RESOURCE_TYPES)}")
    if resource["type"] == "github_repository":
        url = resource.get("url")
        if not isinstance(url, str) or not url.startswith("https://github.com/"):
            raise bad_request(f"{where}.url: a https://github.com/ repository URL is required")
    elif resource["type"] == "file" and not resource.get("file_id"):
        raise bad_request(f"{where}.file_id: Field required")


def _event(event: Any, where: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(event, dict) or event.get("type") not in allowed:
        raise bad_request(f"{where}.type: Input should be one of {', '.join(allowed)}")
    if event["type"] == "user.message":
        content = event.get("content")
        if not isinstance(content, list) or not content:
            raise bad_request(f"{where}.content: List should have at least 1 item")
        for j, block in enumerate(content):
            if not isinstance(block, dict) or "type" not in block:
                raise bad_request(f"{where}.content.{j}: Input should be a content block")
            text = block.get("text")
            if block["type"] == "text" and (not isinstance(text, str) or not text):
                raise bad_request(f"{where}.content.{j}.text: text must be non-empty")
