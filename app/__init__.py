"""Threadline: a Slack agent bot with one continuous Claude memory per conversation."""

__version__ = "0.1.0"
