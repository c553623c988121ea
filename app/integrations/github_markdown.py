"""Markdown made safe to post on GitHub: it pings nobody and shows only GitHub's own images.

``github_safe(text)`` is applied to every comment the bot posts and to every issue body it
files (pure; tested directly):

* **Mentions.** Every ``@user`` and ``@org/team`` gets a zero-width joiner (U+200D) after
  the ``@``: it reads the same, but GitHub links and notifies nobody. Plain user mentions are
  escaped too, not only teams: the bot must not pull people into a thread they are not in,
  and those who are (the commenter, the issue's author, anyone subscribed) are notified of
  the new comment anyway. The joiner works in raw HTML as well, where backticks would not.
* **Images** (Markdown ``![alt](url)``, reference images ``![alt][ref]``, HTML ``<img>`` and
  ``<picture>``'s ``<source>``) stay only when every URL they load is ``https://`` or
  ``http://`` on github.com, githubusercontent.com or a subdomain of either. Any other image
  (another host, a relative path, a ``data:`` URI) is replaced by its alt text, or by
  "image" when it has none, so nothing outside GitHub is loaded by the people reading.

Code is left as written (fenced blocks and inline code spans: GitHub renders neither mentions
nor images there), and so are URLs, link targets and HTML tags, where a joiner would break an
address. Where the Markdown is ambiguous the function errs towards escaping: a mention escaped
inside code costs a joiner, one left in prose would ping. What looks like an e-mail address
(``bob@example.com``: a letter or digit before the ``@``) is not a mention on GitHub and is
left alone.
"""

from __future__ import annotations

import html
import re
from typing import Final
from urllib.parse import urlsplit

IMAGE_HOSTS: Final = ("github.com", "githubusercontent.com")
ZERO_WIDTH_JOINER: Final = "\u200d"
_REMOVED: Final = "image"
_MAX_LABEL: Final = 1000

_FENCE = re.compile(r"^( {0,3})(`{3,}|~{3,})")
# [ref]: <url> "title"   (a link reference definition; labels match case-insensitively)
_DEFINITION = re.compile(r"^ {0,3}\[([^\]\n]+)\]:[ \t]*<?([^\s>]+)>?", re.MULTILINE)
# GitHub links "@name" after any non-word character; "_" is a word character, but it may also
# open emphasis ("_@name_" renders "@name" in <em>), so it does not protect a mention here.
_MENTION = re.compile(r"(?<![0-9A-Za-z])@(?=[0-9A-Za-z])")
_BLANK_LINE = re.compile(r"\n[ \t]*(?:\n|$)")
_ATTRIBUTE_VALUE = r"""(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+)"""
_HTML_TAG = (
    r"</?[A-Za-z][A-Za-z0-9-]*"
    rf"(?:\s+[A-Za-z_:][\w.:-]*(?:\s*=\s*{_ATTRIBUTE_VALUE})?)*\s*/?>"
)

# One scan over prose; at each position the first alternative that matches wins.
_TOKEN = re.compile(
    # an inline code span: a maximal backtick run (not escaped), closed by a run of the same
    # length, not across a blank line
    r"(?P<code>(?<![`\\])(?P<ticks>`+)(?!`)(?:(?!(?P=ticks)|\n[ \t]*(?:\n|$)).)+?"
    r"(?<!`)(?P=ticks)(?!`))"
    r"|(?P<image>!\[)"
    r"|(?P<media><(?:img|source)\b[^>]*>)"
    rf"|(?P<tag>{_HTML_TAG}|<[A-Za-z][A-Za-z0-9+.-]*:[^>\s]*>)"
    r"|(?P<target>\]\([^)\n]*\))"
    r"|(?P<url>(?:https?|ftp)://[^\s<>]+|www\.[^\s<>]+)"
    r"|(?P<mention>(?<![0-9A-Za-z])@(?=[0-9A-Za-z]))",
    re.DOTALL | re.IGNORECASE,
)
_ATTRIBUTE = re.compile(
    r"""\b(src|srcset|alt)\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE
)


def github_safe(text: str) -> str:
    """``text`` with mentions neutralised and foreign images dropped (module docstring)."""
    chunks = _fenced(text)
    prose = "".join(chunk for is_code, chunk in chunks if not is_code)
    definitions: dict[str, str] = {}
    for m in _DEFINITION.finditer(prose):
        definitions.setdefault(_label(m.group(1)), m.group(2))  # the first one counts
    return "".join(chunk if is_code else _prose(chunk, definitions) for is_code, chunk in chunks)


def is_github_image_url(url: str) -> bool:
    """Whether an image at ``url`` is served by GitHub (absolute http(s), GitHub's hosts)."""
    try:
        parts = urlsplit(html.unescape(url.strip()))
        host = (parts.hostname or "").lower().rstrip(".")
    except ValueError:
        return False
    if parts.scheme.lower() not in ("http", "https") or not host:
        return False
    return any(host == allowed or host.endswith("." + allowed) for allowed in IMAGE_HOSTS)


def escape_mentions(text: str) -> str:
    """Only the mention rule of ``github_safe``: a joiner after every mention's ``@``."""
    return _MENTION.sub("@" + ZERO_WIDTH_JOINER, text)


# -- code fences ------------------------------------------------------------------------------


def _fenced(text: str) -> list[tuple[bool, str]]:
    """``text`` cut into (is fenced code, chunk).

    A fence closes at a closing fence line, or, when it was opened indented (inside a list
    item), at the first non-blank line indented less, where its container ends. An unclosed
    fence runs to the end, as in CommonMark.
    """
    chunks: list[tuple[bool, str]] = []
    prose: list[str] = []
    code: list[str] = []
    fence, indent = "", 0
    for line in text.splitlines(keepends=True):
        if fence:
            if line.strip() and len(line) - len(line.lstrip(" ")) < indent:
                chunks.append((True, "".join(code)))
                code, fence = [], ""  # the container ended: this line is prose again
            else:
                code.append(line)
                stripped = line.strip()
                if stripped.startswith(fence) and set(stripped) == {fence[0]}:
                    chunks.append((True, "".join(code)))
                    code, fence = [], ""
                continue
        opened = _FENCE.match(line)
        if opened is not None and not (opened.group(2)[0] == "`" and "`" in line[opened.end() :]):
            chunks.append((False, "".join(prose)))
            prose, code = [], [line]
            fence, indent = opened.group(2), len(opened.group(1))
            continue
        prose.append(line)
    chunks.append((True, "".join(code)) if fence else (False, "".join(prose)))
    return [(is_code, chunk) for is_code, chunk in chunks if chunk]


# -- prose ------------------------------------------------------------------------------------


def _prose(text: str, definitions: dict[str, str]) -> str:
    out: list[str] = []
    pos = 0
    while (m := _TOKEN.search(text, pos)) is not None:
        out.append(text[pos : m.start()])
        pos = m.end()
        if m.group("image") is not None:
            image = _image_at(text, m.start(), definitions)
            if image is None:  # not an image to GitHub either: go on inside the brackets
                out.append("!")
                pos = m.start() + 1
                continue
            end, alt, url = image
            out.append(
                text[m.start() : end] if is_github_image_url(url) else _alt(alt, definitions)
            )
            pos = end
        elif m.group("media") is not None:
            out.append(_media(m.group("media"), definitions))
        elif m.group("mention") is not None:
            out.append("@" + ZERO_WIDTH_JOINER)
        else:
            out.append(m.group(0))  # code, tags, link targets and URLs stay as written
    out.append(text[pos:])
    return "".join(out)


def _image_at(text: str, start: int, definitions: dict[str, str]) -> tuple[int, str, str] | None:
    """The image starting with ``![`` at ``start``: (end, alt, url), or None if none is.

    Inline (``![alt](url "title")``, the URL possibly in ``<>`` or with balanced
    parentheses), full reference (``![alt][ref]``), collapsed (``![alt][]``) and shortcut
    (``![alt]``) forms; a reference image exists only when its label is defined.
    """
    close = _closing_bracket(text, start + 2)
    if close is None:
        return None
    alt = text[start + 2 : close]
    after = close + 1
    if text.startswith("(", after):
        inline = _destination(text, after)
        return None if inline is None else (inline[1], alt, inline[0])
    if text.startswith("[", after):
        ref_close = _closing_bracket(text, after + 1)
        if ref_close is not None:
            ref = text[after + 1 : ref_close] or alt
            url = definitions.get(_label(ref))
            return None if url is None else (ref_close + 1, alt, url)
    url = definitions.get(_label(alt))
    return None if url is None else (after, alt, url)


def _closing_bracket(text: str, i: int) -> int | None:
    """The ``]`` closing a label that starts at ``i`` (nested brackets balanced)."""
    depth = 0
    end = min(len(text), i + _MAX_LABEL)
    while i < end:
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            depth += 1
        elif c == "]":
            if depth == 0:
                return i
            depth -= 1
        elif c == "\n" and _BLANK_LINE.match(text, i):
            return None  # a blank line ends the paragraph, and any label in it
        i += 1
    return None


def _destination(text: str, i: int) -> tuple[str, int] | None:
    """An inline destination ``(url "title")`` opening at ``i``: (url, index after ``)``)."""
    n = len(text)
    i = _skip_space(text, i + 1)
    if text.startswith("<", i):
        close = text.find(">", i)
        if close == -1 or "\n" in text[i:close]:
            return None
        url, i = text[i + 1 : close], close + 1
    else:
        begin, depth = i, 0
        while i < n and not text[i].isspace():
            c = text[i]
            if c == "\\":
                i += 1
            elif c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        url = text[begin:i]
    i = _skip_space(text, i)
    if i < n and text[i] in "\"'(":
        closer = ")" if text[i] == "(" else text[i]
        close = text.find(closer, i + 1)
        if close == -1:
            return None
        i = _skip_space(text, close + 1)
    return (url, i + 1) if text.startswith(")", i) else None


def _skip_space(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t\n":
        i += 1
    return i


def _media(tag: str, definitions: dict[str, str]) -> str:
    """An ``<img>`` or ``<source>`` tag, kept when every URL it loads is GitHub's."""
    urls: list[str] = []
    alt = ""
    for m in _ATTRIBUTE.finditer(tag):
        name = m.group(1).lower()
        value = next(v for v in m.group(2, 3, 4) if v is not None)
        if name == "alt":
            alt = html.unescape(value)
        elif name == "src":
            urls.append(value)
        else:  # srcset: "url 1x, url 2x"
            urls.extend(part.split()[0] for part in value.split(",") if part.split())
    if urls and all(is_github_image_url(url) for url in urls):
        return tag
    if tag[1:].lower().startswith("source"):
        return ""  # a <source> shows nothing by itself
    return _alt(html.escape(alt, quote=False), definitions)


def _alt(alt: str, definitions: dict[str, str]) -> str:
    """What a dropped image leaves: its alt text, itself made safe (it may hold Markdown)."""
    return _prose(alt.strip(), definitions) or _REMOVED


def _label(label: str) -> str:
    """Reference labels match case-insensitively, with inner whitespace collapsed."""
    return " ".join(label.split()).casefold()
