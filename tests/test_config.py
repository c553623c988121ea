"""Settings: validated once, errors name the setting, secrets never show."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.config import Secret, Settings
from app.errors import ConfigError, InvalidSettings

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "sigsecret-9",
    "ANTHROPIC_API_KEY": "sk-1",
}

AGENT_NAME_RULE = (
    "must be 1 to 40 characters of a-z, 0-9, '_' or '-' (capitals count as lower case), "
    "the first a letter or a digit"
)


def test_defaults() -> None:
    s = Settings.from_mapping(BASE)
    assert s.anthropic_model == "claude-sonnet-5-5"
    assert s.database_url == "sqlite:///./data/threadline.db"
    assert (s.port, s.session_ttl_days, s.log_level) == (3000, 30, "INFO")
    assert s.slack_api_url == "https://slack.com/api/"
    assert not s.socket_mode and s.jira is None and s.github is None


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        ({"SLACK_BOT_TOKEN": ""}, "SLACK_BOT_TOKEN"),
        ({"SLACK_BOT_TOKEN": "xoxp-user"}, "SLACK_BOT_TOKEN"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET"),
        ({"SLACK_APP_TOKEN": "nope"}, "SLACK_APP_TOKEN"),
        ({"ANTHROPIC_API_KEY": ""}, "ANTHROPIC_API_KEY"),
        ({"PORT": "abc"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"SESSION_TTL_DAYS": "0"}, "SESSION_TTL_DAYS"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"SLACK_API_URL": "ftp://x"}, "SLACK_API_URL"),
        ({"AGENT_NAME": "has spaces"}, "AGENT_NAME"),
        ({"GITHUB_TOKEN": "t", "GITHUB_REPOS": "not a repo"}, "GITHUB_REPOS"),
        ({"GITHUB_TOKEN": "t"}, "GITHUB_REPOS"),
        ({"JIRA_BASE_URL": "https://x.atlassian.net"}, "JIRA_EMAIL"),
        (
            {
                "JIRA_BASE_URL": "https://x.atlassian.net",
                "JIRA_EMAIL": "a@b.c",
                "JIRA_API_TOKEN": "t",
                "JIRA_PROJECTS": "lower",
            },
            "JIRA_PROJECTS",
        ),
    ],
)
def test_bad_settings_are_named(change: dict[str, str], setting: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**BASE, **change})
    assert caught.value.setting == setting
    assert str(caught.value).startswith(setting)


def test_socket_mode_needs_no_signing_secret_and_heroku_urls_work() -> None:
    s = Settings.from_mapping(
        {
            **BASE,
            "SLACK_SIGNING_SECRET": "",
            "SLACK_APP_TOKEN": "xapp-1",
            "DATABASE_URL": "postgres://u:p@db:5432/x",
        }
    )
    assert s.socket_mode and s.database_url == "postgresql://u:p@db:5432/x"


def test_integrations_and_secrets_stay_hidden() -> None:
    s = Settings.from_mapping(
        {
            **BASE,
            "GITHUB_TOKEN": "ghp_secret",
            "GITHUB_REPOS": "Acme/Widgets, acme/tools",
            "JIRA_BASE_URL": "https://x.atlassian.net/",
            "JIRA_EMAIL": "bot@x.io",
            "JIRA_API_TOKEN": "jira-secret",
            "JIRA_PROJECTS": "AD,OPS",
        }
    )
    assert s.github is not None and s.github.repos == {"acme/widgets", "acme/tools"}
    assert s.jira is not None and s.jira.projects == {"AD", "OPS"}
    assert s.jira.base_url == "https://x.atlassian.net"
    text = repr(s)
    for secret in ("xoxb-1", "sigsecret-9", "sk-1", "ghp_secret", "jira-secret"):
        assert secret not in text
    assert s.slack_bot_token.reveal() == "xoxb-1"


def test_every_bad_setting_is_reported_at_once() -> None:
    env = {
        "SLACK_SIGNING_SECRET": "s",
        "PORT": "abc",
        "AGENT_NAME": "-bot",
        "LOG_LEVEL": "LOUD",
        "DATABASE_URL": "mysql://x",
        "GITHUB_TOKEN": "t",
    }
    with pytest.raises(InvalidSettings) as caught:
        Settings.from_mapping(env)
    problems = caught.value.problems
    assert [(p.setting, p.problem) for p in problems] == [
        ("SLACK_BOT_TOKEN", "is required but not set"),
        ("ANTHROPIC_API_KEY", "is required but not set"),
        ("DATABASE_URL", "must be sqlite:///path/to/file.db or postgresql://user@host/db"),
        ("PORT", "must be a whole number, got 'abc'"),
        ("AGENT_NAME", AGENT_NAME_RULE),
        ("LOG_LEVEL", "must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, got 'LOUD'"),
        ("GITHUB_REPOS", "is required but not set"),
    ]
    assert str(caught.value).splitlines() == [f"{s}: {p}" for s, p in problems]
    # still a ConfigError naming a setting, for handlers of a single one
    assert isinstance(caught.value, ConfigError)
    assert (caught.value.setting, caught.value.problem) == problems[0]


def test_one_bad_setting_reads_as_before() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**BASE, "PORT": "70000"})
    assert str(caught.value) == "PORT: must be between 0 and 65535, got 70000"


@pytest.mark.parametrize(
    ("name", "read_as"),
    [
        ("threadline", "threadline"),
        ("9lives", "9lives"),
        ("Support-Bot_2", "support-bot_2"),
        ("x", "x"),
        ("a" * 40, "a" * 40),
    ],
)
def test_agent_names_the_rule_allows(name: str, read_as: str) -> None:
    assert Settings.from_mapping({**BASE, "AGENT_NAME": name}).agent_name == read_as


@pytest.mark.parametrize("name", ["-bot", "_bot", "has spaces", "bot.name", "é", "a" * 41])
def test_agent_names_the_rule_refuses_are_told_the_rule(name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_mapping({**BASE, "AGENT_NAME": name})
    assert (caught.value.setting, caught.value.problem) == ("AGENT_NAME", AGENT_NAME_RULE)


def test_best_effort_puts_defaults_and_placeholders_in_place_of_bad_settings() -> None:
    settings, invalid = Settings.best_effort(
        {"PORT": "abc", "LOG_LEVEL": "LOUD", "ANTHROPIC_API_KEY": "k", "AGENT_NAME": "-x"}
    )
    assert invalid is not None
    assert [p.setting for p in invalid.problems] == [
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "PORT",
        "AGENT_NAME",
        "LOG_LEVEL",
    ]
    assert (settings.port, settings.log_level, settings.agent_name) == (3000, "INFO", "threadline")
    assert settings.slack_bot_token.reveal().startswith("xoxb-")
    assert settings.anthropic_api_key == Secret("k")
    assert Settings.best_effort(BASE) == (Settings.from_mapping(BASE), None)


def test_a_malformed_app_token_does_not_also_ask_for_a_signing_secret() -> None:
    with pytest.raises(InvalidSettings) as caught:
        Settings.from_mapping({**BASE, "SLACK_SIGNING_SECRET": "", "SLACK_APP_TOKEN": "nope"})
    assert [p.setting for p in caught.value.problems] == ["SLACK_APP_TOKEN"]


def test_the_entry_point_prints_every_problem_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    for name in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY", "PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("THREADLINE_ENV_FILE", str(tmp_path / "none.env"))
    monkeypatch.setenv("SLACK_SIGNING_SECRET", "s")
    monkeypatch.setenv("PORT", "abc")
    assert main(["serve"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "threadline: configuration error: SLACK_BOT_TOKEN: is required but not set "
        "(see .env.example)",
        "threadline: configuration error: ANTHROPIC_API_KEY: is required but not set "
        "(see .env.example)",
        "threadline: configuration error: PORT: must be a whole number, got 'abc' "
        "(see .env.example)",
    ]


def test_action_and_long_conversation_settings_have_documented_defaults() -> None:
    s = Settings.from_mapping(BASE)
    assert (s.compaction, s.compact_at_tokens, s.anthropic_thinking) == ("server", 150_000, "off")
    a = s.actions
    assert (a.tool_approval, a.approvers, a.approval_ttl_seconds) == (
        "untrusted",
        frozenset(),
        3600,
    )
    assert (a.max_writes_per_turn, a.user_turns_per_hour, a.channel_turns_per_hour) == (3, 60, 300)
    assert (a.daily_token_budget, a.user_daily_token_budget) == (0, 0)
    assert (a.max_message_chars, a.max_pending_per_conversation) == (40_000, 50)


def test_action_and_long_conversation_settings_are_validated_together() -> None:
    env = {
        **BASE,
        "COMPACTION": "sometimes",
        "COMPACT_AT_TOKENS": "1000",
        "TOOL_APPROVAL": "maybe",
        "APPROVERS": "U1,not an id",
        "MAX_WRITES_PER_TURN": "-1",
    }
    with pytest.raises(InvalidSettings) as caught:
        Settings.from_mapping(env)
    named = [p.setting for p in caught.value.problems]
    assert named == [
        "TOOL_APPROVAL",
        "APPROVERS",
        "MAX_WRITES_PER_TURN",
        "COMPACTION",
        "COMPACT_AT_TOKENS",
    ]


def test_jobs_dashboard_and_experience_are_off_or_default_without_settings() -> None:
    s = Settings.from_mapping(BASE)
    assert s.jobs is None and s.dashboard is None and s.public_url is None
    assert s.result_route == ("jira", "slack", "github")
    assert s.experience.suggested_prompts == (
        "Summarise this thread",
        "File a GitHub issue for this",
        "What did we decide?",
    )
    assert s.experience.follow_threads is False


def test_an_agent_id_means_the_managed_runner_and_a_dispatch_url_the_callback_runner() -> None:
    managed = Settings.from_mapping(
        {**BASE, "JOBS_AGENT_ID": "agent_1", "JOBS_ENVIRONMENT_ID": "env_1"}
    )
    assert managed.jobs is not None
    assert (managed.jobs.runner, managed.jobs.agent_id, managed.jobs.environment_id) == (
        "managed",
        "agent_1",
        "env_1",
    )
    assert (managed.jobs.poll_seconds, managed.jobs.timeout_seconds) == (30.0, 3600)
    assert managed.jobs.webhook_secret is None
    callback = Settings.from_mapping(
        {
            **BASE,
            "JOBS_DISPATCH_URL": "https://ci.example/dispatch",
            "PUBLIC_URL": "https://b.example/",
        }
    )
    assert callback.jobs is not None and callback.jobs.runner == "callback"
    assert callback.jobs.dispatch_url == "https://ci.example/dispatch"
    assert callback.public_url == "https://b.example"


def test_job_dashboard_and_experience_settings_are_validated_together() -> None:
    env = {
        **BASE,
        "JOBS_RUNNER": "callback",
        "RESULT_ROUTE": "slack,email",
        "SLACK_CLIENT_ID": "123.456",
        "DASHBOARD_TOKEN": "short",
        "SUGGESTED_PROMPTS": "a|b|c|d|e",
    }
    with pytest.raises(InvalidSettings) as caught:
        Settings.from_mapping(env)
    named = [p.setting for p in caught.value.problems]
    assert named == [
        "JOBS_DISPATCH_URL",
        "PUBLIC_URL",
        "RESULT_ROUTE",
        "SLACK_CLIENT_SECRET",
        "PUBLIC_URL",
        "DASHBOARD_TOKEN",
        "SUGGESTED_PROMPTS",
    ]


def test_dashboard_sign_in_and_prompts_read_as_written() -> None:
    s = Settings.from_mapping(
        {
            **BASE,
            "DASHBOARD_TOKEN": "a-long-operator-password",
            "DASHBOARD_ADMINS": "U1,U2",
            "SUGGESTED_PROMPTS": " Triage this | What changed? ",
            "FOLLOW_THREADS": "true",
            "RESULT_ROUTE": "slack,jira",
        }
    )
    assert s.dashboard is not None and not s.dashboard.slack_sign_in
    assert s.dashboard.admins == frozenset({"U1", "U2"})
    assert "a-long-operator-password" not in repr(s)
    assert s.experience.suggested_prompts == ("Triage this", "What changed?")
    assert s.experience.follow_threads is True
    assert s.result_route == ("slack", "jira")


def test_a_webhook_secret_without_jobs_is_reported_rather_than_ignored() -> None:
    with pytest.raises(InvalidSettings) as caught:
        Settings.from_mapping({**BASE, "ANTHROPIC_WEBHOOK_SECRET": "whsec_abc"})
    assert [p.setting for p in caught.value.problems] == ["ANTHROPIC_WEBHOOK_SECRET"]
