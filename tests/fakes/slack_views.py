"""What Slack checks in a published Home tab view (``views.publish``), for the fake Slack.

Slack refuses a view it cannot show with ``invalid_arguments`` (and says where in
``response_metadata.messages``), one over 250 kB with ``view_too_large``. The limits are
Block Kit's: at most 100 blocks; a header's plain text up to 150 characters; a section's text
up to 3,000 and at most 10 fields of up to 2,000; a context's at most 10 elements; an actions
block's at most 25 elements, a button's text up to 75 and its URL up to 3,000 characters;
``block_id`` unique and up to 255 characters.
"""

from __future__ import annotations

import json
from typing import Any, Final

MAX_BLOCKS: Final = 100
MAX_VIEW_BYTES: Final = 250_000
_BLOCK_TYPES: Final = frozenset(
    {"actions", "context", "divider", "header", "image", "input", "markdown", "rich_text",
     "section", "video", "file", "context_actions"}
)  # fmt: skip


class ViewError(Exception):
    """A view Slack would refuse: ``error`` is what the API answers, ``message`` why."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


def check_home_view(view: Any) -> None:
    """Raise ``ViewError`` for a Home tab view Slack would refuse."""
    if not isinstance(view, dict):
        raise ViewError("invalid_arguments", "[ERROR] view must be an object [json-pointer:/view]")
    if len(json.dumps(view).encode()) > MAX_VIEW_BYTES:
        raise ViewError("view_too_large", "view is larger than 250 kB")
    if view.get("type") != "home":
        raise ViewError(
            "invalid_arguments", "[ERROR] view type must be home [json-pointer:/view/type]"
        )
    blocks = view.get("blocks")
    if not isinstance(blocks, list):
        raise ViewError(
            "invalid_arguments", "[ERROR] missing required field: blocks [json-pointer:/view]"
        )
    if len(blocks) > MAX_BLOCKS:
        raise ViewError(
            "invalid_arguments",
            f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/view/blocks]",
        )
    ids: set[str] = set()
    for i, block in enumerate(blocks):
        where = f"/view/blocks/{i}"
        _check_block(block, where)
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or len(block_id) > 255 or block_id in ids:
                raise ViewError(
                    "invalid_arguments", f"[ERROR] invalid block_id [json-pointer:{where}/block_id]"
                )
            ids.add(block_id)


def _check_block(block: Any, where: str) -> None:
    if not isinstance(block, dict) or block.get("type") not in _BLOCK_TYPES:
        raise ViewError("invalid_arguments", f"[ERROR] unknown block type [json-pointer:{where}]")
    kind = block["type"]
    if kind == "header":
        _text(block.get("text"), f"{where}/text", 150, plain=True)
    elif kind == "section":
        if block.get("text") is None and not block.get("fields"):
            raise ViewError(
                "invalid_arguments", f"[ERROR] must provide text or fields [json-pointer:{where}]"
            )
        if block.get("text") is not None:
            _text(block["text"], f"{where}/text", 3000)
        fields = block.get("fields") or []
        if not isinstance(fields, list) or len(fields) > 10:
            raise ViewError(
                "invalid_arguments",
                f"[ERROR] no more than 10 items allowed [json-pointer:{where}/fields]",
            )
        for j, field in enumerate(fields):
            _text(field, f"{where}/fields/{j}", 2000)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 10:
            raise ViewError(
                "invalid_arguments", f"[ERROR] 1 to 10 elements [json-pointer:{where}/elements]"
            )
        for j, element in enumerate(elements):
            _text(element, f"{where}/elements/{j}", 3000)
    elif kind == "actions":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= 25:
            raise ViewError(
                "invalid_arguments", f"[ERROR] 1 to 25 elements [json-pointer:{where}/elements]"
            )
        for j, element in enumerate(elements):
            _button(element, f"{where}/elements/{j}")


def _text(obj: Any, where: str, limit: int, *, plain: bool = False) -> None:
    kinds = ("plain_text",) if plain else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in kinds:
        raise ViewError(
            "invalid_arguments", f"[ERROR] must be a text object [json-pointer:{where}]"
        )
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        raise ViewError(
            "invalid_arguments", f"[ERROR] must be at least 1 character [json-pointer:{where}/text]"
        )
    if len(text) > limit:
        raise ViewError(
            "invalid_arguments",
            f"[ERROR] must be less than {limit + 1} characters [json-pointer:{where}/text]",
        )


def _button(element: Any, where: str) -> None:
    if not isinstance(element, dict) or element.get("type") != "button":
        return  # other interactive elements are not used by Threadline's views
    _text(element.get("text"), f"{where}/text", 75, plain=True)
    url = element.get("url")
    if url is not None and (not isinstance(url, str) or len(url) > 3000):
        raise ViewError("invalid_arguments", f"[ERROR] invalid url [json-pointer:{where}/url]")
