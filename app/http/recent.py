"""Deliveries this process has just recorded, so a second copy is refused without the store.

A mention in a channel thread reaches the app twice, as ``app_mention`` and as ``message``,
moments apart. The first copy is recorded in the inbox; the second would cost a count of the
conversation's backlog and an insert that the inbox refuses. Remembering the last few
thousand delivery ids recorded here refuses it at once. The inbox's unique delivery id stays
the truth: a copy that reaches another replica, or comes after this memory has moved on, is
refused there as before. Only a recorded delivery is remembered, so a copy of one whose
recording failed (and got a 503) is still recorded.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Final

REMEMBERED: Final = 4096


class RecentDeliveries:
    """The ids of the last ``size`` deliveries recorded by this process (least recent out)."""

    def __init__(self, size: int = REMEMBERED) -> None:
        self._size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def seen(self, delivery_id: str) -> bool:
        return delivery_id in self._ids

    def remember(self, delivery_id: str) -> None:
        self._ids[delivery_id] = None
        self._ids.move_to_end(delivery_id)
        if len(self._ids) > self._size:
            self._ids.popitem(last=False)
