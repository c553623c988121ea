"""Markdown ⇄ Atlassian Document Format (ADF), the JSON rich text of Jira's REST API v3.

Both directions are pure functions.

* ``markdown_to_adf`` understands the Markdown Claude writes: paragraphs (line breaks kept),
  ``#`` headings, bullet and numbered lists (nested by indentation), fenced code blocks,
  block quotes, horizontal rules, and inline code, bold, italic, strike-through, ``[links](…)``,
  ``<autolinks>`` and bare URLs. Anything it does not recognise stays as literal text: no text
  is ever dropped.
* ``adf_to_text`` renders a comment body back to light Markdown for Claude to read. It accepts
  an ADF node, a list of nodes, or a plain string (some Jira setups send comment bodies as
  wiki-markup strings).

It is longer than the project's other modules on purpose: the two directions share one
grammar (which nodes and marks exist, how lists nest), and splitting them would spread that
one job over two files that must change together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

Node = dict[str, Any]
Mark = dict[str, Any]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})\s*([^`\s]*)[^`]*$")
_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?(.*)$")
_ITEM = re.compile(r"^( *)([-*+]|(\d{1,9})[.)])(?:[ \t]+(.*))?$")
_URL = re.compile(r"https?://[^\s<>\"'`]+")
_URL_TRAILING: Final = ".,;:!?'\")]*_"
_SAFE_HREF = re.compile(r"^(https?://|mailto:)\S+$", re.IGNORECASE)

# Block nodes a listItem or blockquote may hold; others are flattened into paragraphs.
_NESTABLE: Final = frozenset({"paragraph", "bulletList", "orderedList", "codeBlock"})


def markdown_to_adf(text: str) -> Node:
    """An ADF ``doc`` for Markdown ``text``."""
    return {"type": "doc", "version": 1, "content": _blocks(_lines(text))}


# -- blocks ---------------------------------------------------------------------------------


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").expandtabs(4).split("\n")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


@dataclass(frozen=True)
class _ListMarker:
    indent: int
    ordered: bool
    start: int
    content_col: int
    text: str


def _list_marker(line: str) -> _ListMarker | None:
    m = _ITEM.match(line)
    if m is None:
        return None
    # "***" or "- - -" are rules, not list items.
    if _RULE.match(line):
        return None
    indent, marker, number, rest = len(m.group(1)), m.group(2), m.group(3), m.group(4) or ""
    text_col = m.start(4) if m.group(4) is not None else indent + len(marker) + 1
    return _ListMarker(
        indent=indent,
        ordered=number is not None,
        start=int(number) if number is not None else 1,
        content_col=text_col,
        text=rest,
    )


def _starts_block(line: str) -> bool:
    return bool(
        _FENCE.match(line)
        or _HEADING.match(line)
        or _RULE.match(line)
        or _QUOTE.match(line)
        or _list_marker(line)
    )


def _blocks(lines: list[str]) -> list[Node]:
    out: list[Node] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if not line.strip():
            i += 1
            continue
        if fence := _FENCE.match(line):
            i, node = _code_block(lines, i, fence.group(1), fence.group(2))
            out.append(node)
        elif heading := _HEADING.match(line):
            content = _inline(heading.group(2) or "")
            out.append(
                {"type": "heading", "attrs": {"level": len(heading.group(1))}, "content": content}
            )
            i += 1
        elif _RULE.match(line):
            out.append({"type": "rule"})
            i += 1
        elif _QUOTE.match(line):
            quoted: list[str] = []
            while i < n and (q := _QUOTE.match(lines[i])):
                quoted.append(q.group(1))
                i += 1
            out.append({"type": "blockquote", "content": _nestable(_blocks(quoted))})
        elif marker := _list_marker(line):
            i, node = _list(lines, i, marker)
            out.append(node)
        else:
            para: list[str] = []
            while i < n and lines[i].strip() and (not para or not _starts_block(lines[i])):
                para.append(lines[i].strip())
                i += 1
            out.append(_paragraph(para))
    return out


def _paragraph(lines: list[str]) -> Node:
    content: list[Node] = []
    for k, line in enumerate(lines):
        if k:
            content.append({"type": "hardBreak"})
        content.extend(_inline(line))
    return {"type": "paragraph", "content": content}


def _code_block(lines: list[str], i: int, fence: str, language: str) -> tuple[int, Node]:
    body: list[str] = []
    i += 1
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith(fence[0] * len(fence)) and not stripped.strip(fence[0]):
            i += 1
            break
        body.append(lines[i])
        i += 1
    code = "\n".join(body)
    node: Node = {"type": "codeBlock", "content": [{"type": "text", "text": code}] if code else []}
    if language:
        node["attrs"] = {"language": language}
    return i, node


def _list(lines: list[str], i: int, first: _ListMarker) -> tuple[int, Node]:
    items: list[list[str]] = []
    content_col = first.content_col
    n = len(lines)
    while i < n:
        line = lines[i]
        marker = _list_marker(line)
        if not line.strip():
            # A blank line continues the list only if the list (or the item) goes on after it.
            j = i + 1
            while j < n and not lines[j].strip():
                j += 1
            if j >= n:
                break
            nxt = _list_marker(lines[j])
            same = nxt is not None and nxt.indent < content_col and nxt.ordered == first.ordered
            if same or _indent(lines[j]) >= content_col:
                items[-1].append("")
                i += 1
                continue
            break
        if marker is not None and marker.indent < content_col:
            if marker.ordered != first.ordered or marker.indent < first.indent - 1:
                break
            items.append([marker.text])
            content_col = marker.content_col
        elif _indent(line) >= content_col:
            items[-1].append(line[content_col:])
        elif items and items[-1][-1].strip() and not _starts_block(line):
            items[-1].append(line.strip())  # a lazy continuation of the item's paragraph
        else:
            break
        i += 1
    list_items = [
        {"type": "listItem", "content": _nestable(_blocks(item)) or [_paragraph([])]}
        for item in items
    ]
    node: Node = {
        "type": "orderedList" if first.ordered else "bulletList",
        "content": list_items,
    }
    if first.ordered:
        node["attrs"] = {"order": first.start}
    return i, node


def _nestable(blocks: list[Node]) -> list[Node]:
    """Blocks allowed inside a list item or quote; a heading becomes a bold paragraph."""
    out: list[Node] = []
    for block in blocks:
        if block["type"] in _NESTABLE:
            out.append(block)
        elif block["type"] == "heading":
            content = [_with_mark(node, {"type": "strong"}) for node in block["content"]]
            out.append({"type": "paragraph", "content": content})
        elif block["type"] == "blockquote":
            out.extend(block["content"])
        # A rule carries no text; it is the only thing ever dropped.
    return out


# -- inline ---------------------------------------------------------------------------------


def _inline(text: str) -> list[Node]:
    return _merge(_parse_inline(text, ()))


def _text(text: str, marks: tuple[Mark, ...]) -> list[Node]:
    if not text:
        return []
    node: Node = {"type": "text", "text": text}
    if marks:
        node["marks"] = [dict(m) for m in marks]
    return [node]


def _with_mark(node: Node, mark: Mark) -> Node:
    if node.get("type") != "text" or any(m["type"] == "code" for m in node.get("marks", [])):
        return node
    return {**node, "marks": [*node.get("marks", []), mark]}


def _merge(nodes: list[Node]) -> list[Node]:
    out: list[Node] = []
    for node in nodes:
        prev = out[-1] if out else None
        if (
            prev is not None
            and node["type"] == prev["type"] == "text"
            and node.get("marks") == prev.get("marks")
        ):
            out[-1] = {**prev, "text": prev["text"] + node["text"]}
        else:
            out.append(node)
    return out


def _parse_inline(s: str, marks: tuple[Mark, ...]) -> list[Node]:
    out: list[Node] = []
    buf: list[str] = []

    def flush() -> None:
        out.extend(_text("".join(buf), marks))
        buf.clear()

    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == "\\" and i + 1 < n and not s[i + 1].isalnum() and not s[i + 1].isspace():
            buf.append(s[i + 1])
            i += 2
            continue
        if c == "`":
            run = _run(s, i, "`")
            close = s.find("`" * run, i + run)
            while close != -1 and _run(s, close, "`") != run:
                close = s.find("`" * run, close + _run(s, close, "`"))
            if close != -1:
                flush()
                code = s[i + run : close]
                if code.startswith(" ") and code.endswith(" ") and code.strip():
                    code = code[1:-1]
                links = tuple(m for m in marks if m["type"] == "link")
                out.extend(_text(code, ({"type": "code"}, *links)))
                i = close + run
                continue
            buf.append("`" * run)
            i += run
            continue
        if c == "[" and not _has_link(marks):
            link = _link_at(s, i)
            if link is not None:
                label, href, end = link
                flush()
                out.extend(_parse_inline(label, (*marks, _link_mark(href))))
                i = end
                continue
        if c == "<" and not _has_link(marks):
            close = s.find(">", i)
            target = s[i + 1 : close] if close != -1 else ""
            if _SAFE_HREF.match(target):
                flush()
                out.extend(_text(target, (*marks, _link_mark(target))))
                i = close + 1
                continue
        if c in "hH" and not _has_link(marks) and (i == 0 or not s[i - 1].isalnum()):
            m = _URL.match(s, i)
            if m is not None:
                url = m.group(0)
                while url and url[-1] in _URL_TRAILING and not _balanced_paren(url):
                    url = url[:-1]
                if len(url) > len("https://"):
                    flush()
                    out.extend(_text(url, (*marks, _link_mark(url))))
                    i += len(url)
                    continue
        if c in "*_~":
            span = _emphasis_at(s, i)
            if span is not None:
                mark_type, width, close = span
                flush()
                out.extend(_parse_inline(s[i + width : close], (*marks, {"type": mark_type})))
                i = close + width
                continue
            run = _run(s, i, c)
            buf.append(c * run)
            i += run
            continue
        buf.append(c)
        i += 1
    flush()
    return out


def _run(s: str, i: int, ch: str) -> int:
    j = i
    while j < len(s) and s[j] == ch:
        j += 1
    return j - i


def _has_link(marks: tuple[Mark, ...]) -> bool:
    return any(m["type"] == "link" for m in marks)


def _link_mark(href: str) -> Mark:
    return {"type": "link", "attrs": {"href": href}}


def _balanced_paren(url: str) -> bool:
    # Keep the ")" of "https://en.wikipedia.org/wiki/X_(y)"; drop it in "(see https://x)".
    return url.endswith(")") and url.count("(") >= url.count(")")


def _link_at(s: str, i: int) -> tuple[str, str, int] | None:
    """``[label](href)`` starting at ``s[i]``: (label, href, end) for safe hrefs."""
    depth, j = 0, i
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == "[":
            depth += 1
        elif s[j] == "]":
            depth -= 1
            if depth == 0:
                break
        j += 1
    if j >= len(s) or j + 1 >= len(s) or s[j + 1] != "(":
        return None
    close = s.find(")", j + 2)
    if close == -1:
        return None
    target = s[j + 2 : close].strip()
    href = target.split()[0].strip("<>") if target else ""
    label = s[i + 1 : j]
    if not label or not _SAFE_HREF.match(href):
        return None
    return label, href, close + 1


def _emphasis_at(s: str, i: int) -> tuple[str, int, int] | None:
    """An emphasis span opening at ``s[i]``: (mark type, delimiter width, closer index)."""
    ch = s[i]
    run = _run(s, i, ch)
    if ch == "~":
        if run != 2:
            return None
        width, mark_type = 2, "strike"
    elif run >= 2:
        width, mark_type = 2, "strong"
    else:
        width, mark_type = 1, "em"
    after = s[i + width] if i + width < len(s) else ""
    before = s[i - 1] if i > 0 else ""
    if not after or after.isspace():
        return None
    if ch == "_" and before.isalnum():
        return None  # intraword underscore: snake_case, thread_ts
    delim = ch * width
    j = i + width
    while j < len(s):
        if s[j] == "\\":
            j += 2
            continue
        if s[j] == "`":
            run_len = _run(s, j, "`")
            close = s.find("`" * run_len, j + run_len)
            j = close + run_len if close != -1 else j + run_len
            continue
        if s.startswith(delim, j):
            closer_run = _run(s, j, ch)
            prev = s[j - 1]
            nxt = s[j + closer_run] if j + closer_run < len(s) else ""
            ok = (
                j > i + width
                and not prev.isspace()
                and (ch != "_" or not nxt.isalnum())
                and (width == 2 or closer_run == 1 or closer_run == 3)
            )
            if ok:
                # "***x***": the strong span closes on the last two of the run.
                return mark_type, width, j + closer_run - width if width == 2 else j
            j += closer_run
            continue
        j += 1
    return None


# -- ADF to text ----------------------------------------------------------------------------


def adf_to_text(node: Any) -> str:
    """Light Markdown for an ADF node (or list of nodes, or a plain string, or None)."""
    if node is None:
        return ""
    if isinstance(node, str):
        return node.strip()
    if isinstance(node, list):
        return "\n\n".join(t for t in (_block_text(n) for n in node) if t).strip()
    if isinstance(node, dict):
        return _block_text(node).strip()
    return str(node)


def _attrs(node: Any) -> dict[str, Any]:
    attrs = node.get("attrs") if isinstance(node, dict) else None
    return attrs if isinstance(attrs, dict) else {}


def _children(node: Any) -> list[Any]:
    content = node.get("content") if isinstance(node, dict) else None
    return content if isinstance(content, list) else []


def _block_text(node: Any) -> str:
    if not isinstance(node, dict):
        return str(node) if isinstance(node, str) else ""
    kind = node.get("type")
    attrs = _attrs(node)
    if kind in ("doc", "panel", "expand", "nestedExpand", "layoutSection", "layoutColumn"):
        title = attrs.get("title") if kind in ("expand", "nestedExpand") else None
        body = "\n\n".join(t for t in (_block_text(c) for c in _children(node)) if t)
        return f"{title}\n\n{body}" if title else body
    if kind == "paragraph":
        return _inline_text(_children(node))
    if kind == "heading":
        level = attrs.get("level")
        level = level if isinstance(level, int) else 1
        return "#" * max(1, min(6, level)) + " " + _inline_text(_children(node))
    if kind in ("bulletList", "orderedList", "taskList"):
        return _list_text(node, attrs)
    if kind == "codeBlock":
        language = attrs.get("language") or ""
        return f"```{language}\n{_inline_text(_children(node))}\n```"
    if kind == "blockquote":
        inner = "\n\n".join(t for t in (_block_text(c) for c in _children(node)) if t)
        return "\n".join("> " + line if line else ">" for line in inner.split("\n"))
    if kind == "rule":
        return "---"
    if kind == "table":
        rows = []
        for row in _children(node):
            cells = [adf_to_text(_children(cell)).replace("\n", " ") for cell in _children(row)]
            rows.append("| " + " | ".join(cells) + " |")
        return "\n".join(rows)
    if kind in ("mediaSingle", "mediaGroup", "media"):
        return "[attachment]"
    if kind in ("blockCard", "embedCard"):
        return str(attrs.get("url") or "")
    if _children(node):
        # An inline node list or a block we do not know: keep its text.
        first = _children(node)[0]
        if isinstance(first, dict) and first.get("type") in _INLINE_TYPES:
            return _inline_text(_children(node))
        return "\n\n".join(t for t in (_block_text(c) for c in _children(node)) if t)
    return _inline_text([node])


def _list_text(node: Node, attrs: dict[str, Any]) -> str:
    lines: list[str] = []
    order = attrs.get("order")
    order = order if isinstance(order, int) else 1
    for k, item in enumerate(_children(node)):
        if node.get("type") == "orderedList":
            bullet = f"{order + k}. "
        elif node.get("type") == "taskList":
            done = _attrs(item).get("state") == "DONE"
            bullet = "- [x] " if done else "- [ ] "
        else:
            bullet = "- "
        if isinstance(item, dict) and item.get("type") == "taskItem":
            text = _inline_text(_children(item))
        else:
            text = "\n".join(t for t in (_block_text(c) for c in _children(item)) if t)
        pad = " " * len(bullet)
        body = text.split("\n")
        lines.append(bullet + body[0])
        lines.extend(pad + line if line else "" for line in body[1:])
    return "\n".join(lines)


_INLINE_TYPES: Final = frozenset(
    {"text", "hardBreak", "mention", "emoji", "inlineCard", "status", "date", "placeholder"}
)


_DELIMITERS: Final = {"strong": "**", "em": "_", "strike": "~~"}


def _inline_text(nodes: list[Any]) -> str:
    parts: list[str] = []
    # Emphasis spans several text nodes ("**a _b_ c**" is three nodes); open and close each
    # delimiter once, when the set of marks changes, rather than around every node.
    open_marks: list[str] = []

    def keep_only(wanted: list[str]) -> None:
        while open_marks and any(m not in wanted for m in open_marks):
            parts.append(_DELIMITERS[open_marks.pop()])

    for node in nodes:
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        attrs = _attrs(node)
        if kind == "text":
            marks = node.get("marks")
            kinds = (
                {m.get("type") for m in marks if isinstance(m, dict)}
                if isinstance(marks, list)
                else set()
            )
            # Code cannot carry emphasis in ADF; it stays inside whatever span is open.
            wanted = open_marks[:] if "code" in kinds else [m for m in _DELIMITERS if m in kinds]
            keep_only(wanted)
            for mark in wanted:
                if mark not in open_marks:
                    parts.append(_DELIMITERS[mark])
                    open_marks.append(mark)
            parts.append(_code_or_link(str(node.get("text") or ""), marks))
            continue
        keep_only([])
        if kind == "hardBreak":
            parts.append("\n")
        elif kind == "mention":
            label = attrs.get("text") or attrs.get("id") or ""
            parts.append(label if str(label).startswith("@") else f"@{label}")
        elif kind == "emoji":
            parts.append(str(attrs.get("text") or attrs.get("shortName") or ""))
        elif kind == "inlineCard":
            parts.append(str(attrs.get("url") or ""))
        elif kind in ("status", "placeholder"):
            parts.append(str(attrs.get("text") or ""))
        elif kind == "date":
            parts.append(_date(attrs.get("timestamp")))
        else:
            parts.append(_block_text(node))
    keep_only([])
    return "".join(parts)


def _code_or_link(text: str, marks: Any) -> str:
    if not text or not isinstance(marks, list):
        return text
    kinds = {m.get("type"): m for m in marks if isinstance(m, dict)}
    shown = f"`{text}`" if "code" in kinds else text
    href = _attrs(kinds.get("link")).get("href")
    if isinstance(href, str) and href and href != text:
        return f"[{shown}]({href})"
    return shown


def _date(timestamp: Any) -> str:
    try:
        return datetime.fromtimestamp(int(timestamp) / 1000, tz=UTC).date().isoformat()
    except (TypeError, ValueError, OverflowError, OSError):
        return str(timestamp or "")
