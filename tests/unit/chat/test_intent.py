"""Question kinds: the shape of answer a question asks for, from its wording alone."""

from __future__ import annotations

import pytest

from ragops.chat.intent import is_action_heading, is_topical_action, question_kind


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("What do I do when the error rate is above 1%?", "procedure"),
        ("The DB pool is exhausted, what now?", "procedure"),
        ("How do I roll back a bad deploy?", "procedure"),
        ("Which alerts page someone?", "list"),
        ("Which file types can be ingested?", "list"),
        ("What are the size limits of a request?", "list"),
        ("How many connections does the pool keep open?", "value"),
        ("Which port does Qdrant use?", "value"),
        ("What is the default chunk size?", "value"),
        ("Is a # inside a fenced code block a heading?", "yesno"),
        ("What is the burn rate?", "definition"),
        ("What happens when I re-ingest a file that has not changed?", "fact"),
        ("What are the first steps when any alert fires?", "procedure"),
        ("How quickly must a page be acknowledged?", "value"),
        ("What is the largest file I can upload?", "value"),  # a superlative: one figure
        ("At what error rate does the alert fire?", "value"),
        ("What severity is the disk alert?", "value"),  # "what NOUN is": one of a kind
        ("Which user does the container run as?", "value"),  # a singular noun: one thing
        ("Which users can sign in?", "list"),  # a plural noun: several
        ("Through which channels can a page be sent?", "list"),  # a preposition first
        ("In which format are the logs written?", "value"),
        ("What does a postmortem contain?", "list"),  # what something holds
        ("And when should I remove an instance again?", "value"),  # a follow-up's "and"
    ],
)
def test_question_kind(question: str, kind: str) -> None:
    assert question_kind(question) == kind


@pytest.mark.parametrize(
    ("section", "action"),
    [
        ("RagopsDBPoolWaiters > Mitigation", True),
        ("Runbooks > Rollback", True),
        ("Runbooks > Rollback > Rolling back across a migration", True),  # part of Rollback
        ("Alerting > Changing an alert > Examples", False),
        ("Rollback drill guide > Overview", False),  # the title alone names no action
        ("Runbooks > First response (any alert)", True),
        ("Alerting > End-to-end alert test", False),
        ("RagopsDBPoolWaiters > Meaning", False),
        ("", False),
        ("Database recovery: restore from a backup", False),  # a page's intro, not its steps
    ],
)
def test_action_headings(section: str, action: bool) -> None:
    assert is_action_heading(section) is action


@pytest.mark.parametrize(
    ("heading", "topical"),
    [
        ("Mitigation", False),
        ("Rollback", False),
        ("What to do", False),
        ("Rollback drill", True),  # an action, and what it is about
        ("First response (any alert)", True),
        ("Meaning", False),  # no action section at all
    ],
)
def test_topical_action_headings(heading: str, topical: bool) -> None:
    assert is_topical_action(heading) is topical
