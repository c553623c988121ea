"""Settings: validated once, errors name the setting, secrets never show."""

from __future__ import annotations

import pytest

from app.config import Settings
from app.errors import ConfigError

BASE = {
    "SLACK_BOT_TOKEN": "xoxb-1",
    "SLACK_SIGNING_SECRET": "sigsecret-9",
    "ANTHROPIC_API_KEY": "sk-1",
}


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
