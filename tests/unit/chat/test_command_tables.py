"""Commands in how-to answers: a table of commands (a command and what it does, a row each)
answers a "how do I" question with the row that does what is asked, under its section's
heading; a section titled like a subcommand is answered with the command line that runs it,
from the page's usage block."""

from __future__ import annotations

from dataclasses import dataclass

from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.units import is_command_row, passage_units


@dataclass(frozen=True)
class DocPassage:
    """A retrieved passage of a known document."""

    title: str
    section: str
    text: str
    document_id: str = "jobs"
    score: float = 0.5


HTTP = DocPassage(
    "Jobs",
    "Jobs > HTTP",
    "- GET /v1/jobs (admin key): which jobs are queued or running now; the console shows "
    "them too.\n"
    "- GET /v1/jobs/feed: an event stream of job changes for dashboards.\n",
    score=0.62,
)
COMMANDS = DocPassage(
    "Jobs",
    "Jobs > Commands",
    "| command | what it does |\n"
    "|---|---|\n"
    "| acme jobs list [--json] | the jobs that are queued or running, oldest first |\n"
    "| acme jobs retry ID [--force] | run a failed job again from its first step |\n"
    "| acme jobs purge --older-than DAYS | delete finished jobs and their logs |\n",
    score=0.48,
)
SETTINGS = DocPassage(
    "Jobs",
    "Jobs > Settings",
    "| setting | default |\n"
    "|---|---|\n"
    "| jobs retry limit | 3 attempts before a failed job stays failed |\n"
    "| jobs log retention | 30 days |\n",
    score=0.6,
)


def _ask(question: str, *passages: DocPassage) -> tuple[str, tuple[int, ...]]:
    answer = ExtractiveAnswerer().answer_now(question, list(passages))
    return answer.text, answer.cited


def test_a_how_to_question_is_answered_with_the_command_row_that_does_it() -> None:
    text, cited = _ask("How do I see which jobs are queued?", HTTP, COMMANDS)
    assert "acme jobs list [--json]" in text
    assert text.startswith("Commands (Jobs) [2]")
    assert cited == (2,)
    assert "acme jobs purge" not in text  # one row, not the whole table


def test_of_a_command_table_the_row_whose_description_matches_answers() -> None:
    text, _ = _ask("How do I run a failed job again?", HTTP, COMMANDS)
    assert "acme jobs retry ID [--force]" in text
    assert "acme jobs list" not in text


def test_of_rows_naming_the_same_program_the_one_whose_description_matches_answers() -> None:
    backups = DocPassage(
        "Backups",
        "Backups > Commands",
        "| command | what it does |\n"
        "|---|---|\n"
        "| acme backup list | the archives kept, newest first |\n"
        "| acme backup restore FILE | the database from an archive |\n"
        "| acme backup create [--to DIR] | take a backup of the database now |\n",
        document_id="backups",
    )
    text, _ = _ask("How do I back up acme?", backups, HTTP)
    assert "acme backup create [--to DIR]" in text
    assert "acme backup list" not in text


def test_a_table_of_settings_is_no_command_table() -> None:
    units = passage_units(1, SETTINGS.text)
    assert not any(u.command for u in units)
    text, _ = _ask("How do I change the jobs retry limit?", SETTINGS, HTTP)
    assert "Commands" not in text


def test_a_command_row_is_a_command_line_and_what_it_does() -> None:
    header = ["command", "what it does"]
    assert is_command_row(header, ["acme jobs list", "the jobs"])
    assert is_command_row(["name", "does"], ["acme jobs purge --older-than 7", "delete"])
    assert not is_command_row(["name", "does"], ["acme jobs list", "the jobs"])  # no flag
    assert not is_command_row(header, ["GET /v1/jobs", "the jobs"])  # an HTTP route
    assert not is_command_row(header, ["acme jobs list", ""])  # nothing says what it does


@dataclass(frozen=True)
class CodePassage(DocPassage):
    """A passage whose code block ingestion marked as quoted."""

    payload: dict[str, object] | None = None


def _with_code(section: str, prose: str, code: str, score: float) -> CodePassage:
    text = f"{prose}\n\n{code}\n"
    start = text.index(code)
    return CodePassage(
        "Audit",
        section,
        text,
        document_id="audit",
        score=score,
        payload={"quoted": [[start, start + len(code)]]},
    )


CHECK = DocPassage(
    "Audit",
    "Audit > Checks > licenses",
    "Every installed package's license is compared with the allowed list, in two passes:\n\n"
    "1. Read the license metadata of each installed package.\n"
    "2. Flag a license that is not on the allowed list as a high finding.\n",
    document_id="audit",
    score=0.7,
)
USAGE = _with_code(
    "Audit > Running it",
    "From the root of a checkout:",
    "acme audit deps [--lock FILE]      # known vulnerabilities\n"
    "acme audit licenses [--allow MIT,BSD]\n"
    "acme audit config",
    score=0.4,
)


def test_a_section_named_like_a_subcommand_is_answered_with_the_command_that_runs_it() -> None:
    text, cited = _ask("How do I audit the licenses of the installed packages?", CHECK, USAGE)
    assert text.startswith("licenses (Audit) [1]")
    assert "Flag a license" in text
    assert "acme audit licenses [--allow MIT,BSD] [2]" in text
    assert "acme audit deps" not in text
    assert cited == (1, 2)


def test_no_command_is_added_to_a_section_that_is_no_subcommand() -> None:
    check = DocPassage(
        "Audit",
        "Audit > Checks > License policy",
        CHECK.text,
        document_id="audit",
        score=0.7,
    )
    text, cited = _ask("How does the license policy work?", check, USAGE)
    assert "acme audit" not in text
