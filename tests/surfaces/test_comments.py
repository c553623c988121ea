"""Answers posted as comments: split when long, never posted twice on a retry."""

from __future__ import annotations

from app.surfaces.comments import CommentReply


async def test_a_long_comment_answer_is_split_and_a_retry_posts_only_the_rest() -> None:
    posted: list[str] = []
    recorded: list[str] = []

    async def post(body: str) -> str:
        posted.append(body)
        return str(len(posted))

    async def on_posted(comment_id: str) -> None:
        recorded.append(comment_id)

    paragraphs = [f"Paragraph {i} " + "word " * 30 for i in range(6)]
    reply = CommentReply(post, on_posted, limit=400)
    for paragraph in paragraphs:
        await reply.text(paragraph.strip() + "\n\n")
    await reply.finish()
    assert len(posted) > 1 and all(len(p) <= 400 for p in posted)
    assert " ".join(" ".join(posted).split()) == " ".join(" ".join(paragraphs).split())
    assert recorded == [str(i) for i in range(1, len(posted) + 1)]

    # the same answer retried after two parts went out posts only what is missing
    first_run = list(posted)
    posted.clear()
    retry = CommentReply(post, on_posted, already_posted=2, limit=400)
    for paragraph in paragraphs:
        await retry.text(paragraph.strip() + "\n\n")
    await retry.finish()
    assert posted == first_run[2:]


async def test_a_note_is_added_to_the_comment() -> None:
    posted: list[str] = []

    async def post(body: str) -> str:
        posted.append(body)
        return "1"

    async def on_posted(comment_id: str) -> None:
        return None

    reply = CommentReply(post, on_posted)
    await reply.finish("_try again later_")
    assert posted == ["_try again later_"]
