"""The question itself: what makes one unacceptable whatever it says (empty, too long), and the
prompt-injection check, run before any lookup or retrieval.

`validate_question` trims the question and raises `ValidationFailed` naming what is wrong;
`checked_question` runs it on the event loop for a short question and in the `cpu` pool for a
long one; `question_problem` is the part the lean path of exact hits (`chat.fastpath`) shares.
`checked_history` scans the earlier messages a client sends with its question (the
OpenAI-compatible route) that reach the model's prompt, with the same policy.
"""

from __future__ import annotations

from collections.abc import Sequence

from ragops.chat.prompts import bounded_history
from ragops.config import Settings
from ragops.errors import ValidationFailed
from ragops.providers.llm.base import ChatMessage
from ragops.security.injection import report_detection, scan_question
from ragops.workers import run_blocking


def question_problem(settings: Settings, text: str) -> ValidationFailed | None:
    """What makes the trimmed question `text` unacceptable whatever it says (empty, too
    long), or None; `validate_question` raises it."""
    if not text:
        return ValidationFailed("the question is empty", code="empty_question")
    if len(text) > settings.max_question_chars:
        return ValidationFailed(
            f"the question is {len(text)} characters long; the limit is "
            f"{settings.max_question_chars}",
            code="question_too_long",
        )
    return None


def validate_question(settings: Settings, question: str) -> str:
    """The trimmed question, or ValidationFailed naming what is wrong with it.

    A question that looks like prompt injection is logged and counted; with
    `injection_policy="block"` one that scores over the block threshold is refused (422
    `prompt_injection`), otherwise it is answered (docs/security/prompt-injection.md).
    """
    text = question.strip()
    problem = question_problem(settings, text)
    if problem is not None:
        raise problem
    report = scan_question(text)
    if report.flagged:
        refused = settings.injection_policy == "block" and report.blocked
        report_detection("question", report, refused=refused)
        if refused:
            raise ValidationFailed(
                "the question looks like an attempt to override the assistant's instructions "
                f"({', '.join(report.rules)}); rephrase it as a question about the documents",
                code="prompt_injection",
            )
    return text


INLINE_CHECK_CHARS = 256
"""Questions up to this long are checked on the event loop (a few tens of microseconds: less
than handing them to a worker thread and back); longer ones go to the `cpu` pool."""


async def checked_question(settings: Settings, question: str) -> str:
    """`validate_question`, on the event loop for a short question, else in a worker."""
    if len(question) <= INLINE_CHECK_CHARS:
        return validate_question(settings, question)
    return await run_blocking("cpu", validate_question, settings, question)


def validate_history(settings: Settings, history: Sequence[ChatMessage]) -> None:
    """Scan the messages of a client-sent history that the prompt keeps (`bounded_history`),
    the user's and the "assistant" turns the client wrote alike: a flagged one is logged and
    counted; with `injection_policy="block"` one over the block threshold refuses the request
    (422 `prompt_injection`), as the question itself would."""
    kept = bounded_history(history, turns=settings.history_turns)
    for message in kept:
        report = scan_question(message.content)
        if not report.flagged:
            continue
        refused = settings.injection_policy == "block" and report.blocked
        report_detection("question", report, refused=refused, history_role=message.role)
        if refused:
            raise ValidationFailed(
                f"an earlier message of the conversation (role {message.role}) looks like an "
                f"attempt to override the assistant's instructions ({', '.join(report.rules)}); "
                "leave it out of the history",
                code="prompt_injection",
            )


async def checked_history(settings: Settings, history: Sequence[ChatMessage]) -> None:
    """`validate_history`, on the event loop for a short history, else in a worker."""
    if sum(len(m.content) for m in history) <= INLINE_CHECK_CHARS:
        validate_history(settings, history)
        return
    await run_blocking("cpu", validate_history, settings, history)
