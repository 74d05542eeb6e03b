"""The question itself: what makes one unacceptable whatever it says (empty, too long), and the
prompt-injection check, run before any lookup or retrieval.

`validate_question` trims the question and raises `ValidationFailed` naming what is wrong;
`checked_question` runs it on the event loop for a short question and in the `cpu` pool for a
long one; `question_problem` is the part the lean path of exact hits (`chat.fastpath`) shares.
"""

from __future__ import annotations

from ragops.config import Settings
from ragops.errors import ValidationFailed
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
