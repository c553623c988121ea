"""The benchmark: figures of speed and memory for the real app against loopback fakes.

Run with ``make bench`` (``python -m bench``); see ``bench/__main__.py`` for the options and
``bench/results.md`` for the last results.
"""
