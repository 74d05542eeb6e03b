"""How the extractive answerer reads the words of spoken on-call questions: verbs written
with a particle ("back up", "on call") and filler phrases ("right now"), and a sentence that
enumerates what a list question asks for."""

from __future__ import annotations

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.prompts import TextPassage
from ragops.chat.terms import question_terms


def test_a_verb_and_its_particle_match_the_compound_word() -> None:
    assert "backup" in question_terms("How do I back up the store?")
    assert "oncal" in question_terms("Who is on call this week?")
    assert "failov" in question_terms("When does the database fail over?")
    assert "login" in question_terms("How do I log in to the console?")


def test_filler_phrases_ask_for_nothing() -> None:
    asked = question_terms("How do I find out who is on call right now?")
    assert not {"find", "right"} & set(asked)
    assert "call" in asked


async def test_a_filler_word_does_not_pick_the_answer() -> None:
    rota = TextPassage(
        "Rota",
        "Rota > Who holds the pager",
        "The oncall command prints who is on call in each layer and until when.",
    )
    restart = TextPassage(
        "Workers",
        "Workers > Hangs",
        "Restart a hung worker right away; the right worker is the one whose queue grows.",
    )
    answer = await ExtractiveAnswerer().answer(
        "Who is on call right now?", [restart, rota], max_sentences=1
    )
    assert "oncall command" in answer.text
    assert answer.cited == (2,)


async def test_a_sentence_enumerating_the_subject_beats_an_unrelated_list() -> None:
    names = TextPassage(
        "Accounts",
        "Accounts > Names",
        "An account is named by its owner. Account names are 3-32 characters of letters, "
        "digits, dots and dashes.",
    )
    tokens = TextPassage(
        "Accounts",
        "Accounts > Tokens",
        "A token of an account is shown once; we keep only:\n\n"
        "- its hash, 32 characters of hex;\n"
        "- its account name and its prefix of 6 characters;\n"
        "- its creation and expiry.\n",
    )
    answer = await ExtractiveAnswerer().answer(
        "Which characters may an account name contain?", [names, tokens]
    )
    assert answer.kind == "list"
    assert "letters, digits, dots and dashes" in answer.text
    assert "its hash" not in answer.text


async def test_a_list_that_lists_the_subject_still_answers() -> None:
    colours = TextPassage(
        "Themes",
        "Themes > Colours",
        "The theme sets the colours, fonts, spacing and icons of the console.\n\n"
        "Colours you can pick:\n\n- red\n- green\n- blue\n",
    )
    answer = await ExtractiveAnswerer().answer("Which colours can I pick?", [colours])
    assert "- red" in answer.text
    assert "- blue" in answer.text


def test_hedges_and_keeps_ask_for_nothing() -> None:
    asked = question_terms("The probe keeps failing, and requests seem to time out. Why?")
    assert not {"keep", "seem"} & set(asked)
    assert {"probe", "fail", "request"} <= set(asked)
    assert "keep" in question_terms("What keeps the cache warm?")  # a verb of its own


async def test_a_sentence_that_leans_on_the_one_before_is_quoted_with_it() -> None:
    metrics = TextPassage(
        "Monitoring",
        "Monitoring > Metrics",
        "The metrics are served in the text format. With STATS_TOKEN set, a scraper must send "
        "the token as a bearer token. Without a token, only local clients are served and "
        "every remote scraper gets 403.",
    )
    answer = await ExtractiveAnswerer().answer(
        "Why does the remote scraper get 403?", [metrics], max_sentences=1
    )
    assert "every remote scraper gets 403" in answer.text
    assert "With STATS_TOKEN set" in answer.text  # which token "a token" is
    assert answer.text.index("With STATS_TOKEN") < answer.text.index("Without a token")
    assert "text format" not in answer.text


def test_make_sure_reads_as_verify_and_actually_asks_for_nothing() -> None:
    asked = question_terms("How do I make sure a backup can actually be restored?")
    assert "verifi" in asked
    assert not {"make", "sure", "actual"} & set(asked)


def test_the_pieces_of_a_contraction_ask_for_nothing() -> None:
    asked = question_terms("We're seeing 401 for a key we'd revoked; I've no idea why, I'm stuck")
    assert not {"m", "re", "ve", "d"} & set(asked)
    assert {"401", "key", "revok"} <= set(asked)


async def test_a_question_full_of_contractions_is_still_answered() -> None:
    keys = TextPassage(
        "Keys",
        "Keys > Revoked keys",
        "A revoked key gets 401 on every request. Issue a new key with acme keys create.",
    )
    workers = TextPassage(
        "Workers", "Workers > Hangs", "Restart a hung worker; the queue drains within a minute."
    )
    answer = await ExtractiveAnswerer().answer(
        "We're seeing 401 for a key we'd revoked; I've no idea why", [keys, workers]
    )
    assert "A revoked key gets 401" in answer.text
    assert answer.cited == (1,)


async def test_a_question_for_a_cause_is_answered_with_the_condition() -> None:
    status = TextPassage(
        "Workers",
        "Workers > Status",
        "The worker status check reports stopped or running, with the queue it serves. "
        "The worker status check reports stopped whenever its queue is paused.",
    )
    for question in (
        "The worker status check keeps reporting stopped. What can cause that?",
        "Why does the worker status check report stopped?",
    ):
        answer = await ExtractiveAnswerer().answer(question, [status], max_sentences=1)
        assert "whenever its queue is paused" in answer.text, question
    plain = await ExtractiveAnswerer().answer(
        "What does the worker status check report?", [status], max_sentences=1
    )
    assert "stopped or running" in plain.text


def test_a_negative_contraction_asks_for_nothing() -> None:
    assert question_terms("My server won't boot") == question_terms("My server boot")
    assert "won" not in question_terms("Why won’t it start and why can't I log in?")


async def test_a_contraction_does_not_lower_the_answer_to_a_refusal() -> None:
    refusals = TextPassage(
        "Deployment",
        "Deployment > Production refuses embedded parts",
        "In production mode the server refuses to start with SQLite or the embedded vector store.",
    )
    answer = await ExtractiveAnswerer().answer(
        "Why won't the server start in production mode?", [refusals], max_sentences=1
    )
    assert answer.text == (
        "In production mode the server refuses to start with SQLite or the embedded vector "
        "store [1]."
    )
