"""A naive Slack bot: the baseline the burst benchmark (``bench/burst.py``) compares with.

It is what a team might write first: an aiohttp server that checks Slack's signature, keeps
each thread's history in a dict in memory, asks the Messages API for the whole answer at once
(no streaming) with the whole history, and posts it with ``chat.postMessage``. Every mention
runs at once in its own task; nothing is stored, so a restart forgets every conversation and
an event that arrives while the bot is down or busy failing is lost.

    python -m bench.baseline     # reads PORT, HOST, SLACK_*, ANTHROPIC_* from the environment
"""
