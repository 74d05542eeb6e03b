"""Procedure questions end to end on a small runbook: ingestion keeps structure, the action
section retrieval missed is read from the database (of a page with several, only the one the
question names), the answer gives the steps in order and cites them, and an index line
naming a page brings that page's steps."""

from __future__ import annotations

import uuid

from ragops.chat import service as chat
from ragops.chat.extractive import ExtractiveAnswerer
from ragops.chat.passages import retrieve
from ragops.chat.sections import (
    add_action_sections,
    add_command_chunks,
    add_cut_steps,
    add_definition_start,
)
from ragops.documents import service as documents
from ragops.retrieval.service import Passage
from ragops.runtime import Runtime

RUNBOOK = b"""# RagopsQueueBacklogHigh

## Meaning

More than 500 jobs have waited in the export queue for ten minutes: the export workers
cannot keep up.

## Impact

Exports arrive late.

## Mitigation

1. Scale the export workers to twice their count.
2. Pause the nightly re-index until the backlog drains:

   ```bash
   ragops jobs pause reindex
   ```

3. Resume the re-index once the queue is below 50 jobs.
"""

INDEX = b"""# Runbook index

| alert | summary |
|---|---|
| RagopsQueueBacklogHigh | the export queue holds a backlog of waiting jobs |
| RagopsDiskAlmostFull | a data volume is over 90 percent full |
"""


async def ingested_and_retrieved(
    runtime: Runtime, source: str, data: bytes, question: str
) -> list[Passage]:
    """Ingest `data` as document `source` of the default collection, then the passages
    retrieval finds for `question` there."""
    await documents.ingest_bytes(
        runtime.ingest_deps, tenant_id="default", collection="default", source=source, data=data
    )
    found, _, _ = await retrieve(
        runtime.chat_deps, tenant_id="default", query=question, collection="default"
    )
    return found


async def ask(runtime: Runtime, question: str) -> tuple[str, list[tuple[str, int]]]:
    response = await chat.answer(
        runtime.chat_deps,
        tenant_id="default",
        question=question,
        session_id=None,
        collection=None,
        request_id=uuid.uuid4().hex,
    )
    return response.answer, [(c.section, c.index) for c in response.citations]


async def test_procedure_question_gets_the_mitigation_steps_in_order(runtime: Runtime) -> None:
    outcome = await documents.ingest_bytes(
        runtime.ingest_deps,
        tenant_id="default",
        collection="default",
        source="runbooks/RagopsQueueBacklogHigh.md",
        data=RUNBOOK,
    )
    assert outcome.status == "created"
    answer, cited = await ask(runtime, "The export queue has a backlog, what now?")
    assert cited == [("RagopsQueueBacklogHigh > Mitigation", 1)]
    assert answer.startswith("Mitigation (RagopsQueueBacklogHigh) [1]:")
    assert answer.index("1. Scale") < answer.index("2. Pause") < answer.index("3. Resume")
    # the command inside step 2 stays in that step (its first line, as code), not a step
    step = "2. Pause the nightly re-index until the backlog drains: `ragops jobs pause reindex`\n"
    assert step in answer


async def test_an_index_line_naming_a_page_brings_its_steps(runtime: Runtime) -> None:
    for source, data in (("runbooks/index.md", INDEX), ("runbooks/q.md", RUNBOOK)):
        await documents.ingest_bytes(
            runtime.ingest_deps,
            tenant_id="default",
            collection="default",
            source=source,
            data=data,
        )
    answer, cited = await ask(runtime, "What do I do about a backlog of waiting jobs?")
    assert ("RagopsQueueBacklogHigh > Mitigation", 1) in cited
    assert "Scale the export workers" in answer


async def test_the_action_section_retrieval_missed_is_read_from_the_database(
    runtime: Runtime,
) -> None:
    question = "The export queue has a backlog, what now?"
    found = await ingested_and_retrieved(
        runtime, "runbooks/RagopsQueueBacklogHigh.md", RUNBOOK, question
    )
    meaning = [p for p in found if p.section.endswith("Meaning")]
    assert meaning  # retrieval finds the page by its Meaning
    added = await add_action_sections(runtime.db, "default", question, meaning[:1])
    assert [p.section for p in added] == [
        "RagopsQueueBacklogHigh > Meaning",
        "RagopsQueueBacklogHigh > Mitigation",
    ]
    assert added[1].payload["quoted"]  # the code block's offsets came from the chunk row
    assert await add_action_sections(runtime.db, "other", question, meaning[:1]) == meaning[:1]
    assert await add_action_sections(runtime.db, "default", "What is a backlog?", meaning) == (
        meaning
    )


HANDBOOK = b"""# Operations handbook

## Queues

The export queue holds jobs waiting for the export workers; a backlog of waiting jobs means
they cannot keep up.

## Procedures

| page | what it covers |
|---|---|
| database | slow queries, pool reset |

## Rollback

1. Redeploy the previous image tag.
2. Watch the error rate for ten minutes.
"""


async def test_a_page_with_several_action_sections_adds_only_the_one_asked_for(
    runtime: Runtime,
) -> None:
    question = "The exports have a backlog of waiting jobs, what now?"
    found = await ingested_and_retrieved(runtime, "handbook.md", HANDBOOK, question)
    queues = [p for p in found if p.section.endswith("Queues")]
    assert queues
    # neither Procedures nor Rollback is what the question asks for: none is added
    assert await add_action_sections(runtime.db, "default", question, queues[:1]) == queues[:1]
    rollback = "The exports broke after a deploy, how do I roll back?"
    added = await add_action_sections(runtime.db, "default", rollback, queues[:1])
    assert [p.section for p in added] == [
        "Operations handbook > Queues",
        "Operations handbook > Rollback",
    ]


TOOL = b"""# Scanner reference

## Usage

```bash
scanner check secrets [--repo .]
scanner check deps [--lock FILE]
```

## Checks

### secrets

Looks for leaked keys in two passes:

1. Working tree: every file that is not ignored.
2. History: every commit of every branch.

### deps

Compares the locked packages with the advisory database.
"""


async def test_a_subcommand_section_gets_the_usage_line_that_runs_it(runtime: Runtime) -> None:
    question = "How do I scan the history for leaked secrets?"
    found = await ingested_and_retrieved(runtime, "scanner.md", TOOL, question)
    secrets = [p for p in found if p.section.endswith("> secrets")]
    assert secrets
    added = await add_command_chunks(runtime.db, "default", question, secrets[:1])
    assert [p.section for p in added] == [
        "Scanner reference > Checks > secrets",
        "Scanner reference > Usage",
    ]
    answer = ExtractiveAnswerer().answer_now(question, added)
    assert "Run it with: scanner check secrets [--repo .] [2]" in answer.text
    # a passage of the page that holds the usage already: nothing is read
    assert await add_command_chunks(runtime.db, "default", question, added) == added


SCALING = (
    b"""# Scaling

## Add an instance

Every instance shares the same database and vector store, so only their limits bound
the count.

"""
    + b"".join(
        b"%d. Step %d of the scale-out: confirm the shared database still has room for the "
        b"pool of one more instance, and write the figure you checked in the capacity log "
        b"before going on.\n" % (n, n)
        for n in range(1, 9)
    )
    + b"""9. Raise the instance count on the hosting platform's settings page by one.
"""
)


async def test_steps_the_chunker_cut_are_read_on_from_the_next_chunk(runtime: Runtime) -> None:
    question = "How do I raise the instance count when the database has room?"
    found = await ingested_and_retrieved(runtime, "scaling.md", SCALING, question)
    first = [p for p in found if p.section.endswith("Add an instance") and p.ordinal == 0]
    assert first and "9. Raise the instance count" not in first[0].text
    alone = ExtractiveAnswerer().answer_now(question, first[:1])
    assert "Raise the instance count on the hosting platform" not in alone.text
    added = await add_cut_steps(runtime.db, "default", question, first[:1])
    assert [p.ordinal for p in added] == [0, 1]
    answer = ExtractiveAnswerer().answer_now(question, added)
    assert "9. Raise the instance count on the hosting platform's settings page" in answer.text
    assert answer.text.index("1. Step 1") < answer.text.index("9. Raise")
    # the next chunk retrieved already, or a question that asks no steps: nothing is read
    assert await add_cut_steps(runtime.db, "default", question, added) == added
    value = "How many instances share the database?"
    assert await add_cut_steps(runtime.db, "default", value, first[:1]) == first[:1]


ALERTS = (
    b"""# Alerting

## Burn-rate alerts

The **burn rate** is how fast the error budget is spent relative to plan: the observed
bad-request ratio divided by the budget. At burn rate 1 the budget lasts exactly 30 days.

"""
    + b"".join(
        b"The window of rule %d is compared with its threshold every minute, and the rule's "
        b"page goes to the on-call engineer through the alert's own route.\n\n" % n
        for n in range(1, 12)
    )
    + b"""So the fast burn fires above 14.4 percent errors, the slow burn above 6 percent, and
the budget burn above 1 percent of requests.
"""
)


async def test_a_definition_is_read_from_where_its_section_begins(runtime: Runtime) -> None:
    question = "What does burn rate actually mean in the alerts?"
    found = await ingested_and_retrieved(runtime, "alerting.md", ALERTS, question)
    later = [p for p in found if p.section.endswith("Burn-rate alerts") and p.ordinal > 0]
    assert later and "relative to plan" not in later[-1].text
    alone = ExtractiveAnswerer().answer_now(question, later[-1:])
    assert "relative to plan" not in alone.text
    added = await add_definition_start(runtime.db, "default", question, later[-1:])
    assert [p.ordinal for p in added] == [later[-1].ordinal, 0]
    answer = ExtractiveAnswerer().answer_now(question, added)
    assert answer.text.startswith("The burn rate is how fast the error budget is spent")
    # a retrieved sentence says it already, or the question defines nothing: nothing is read
    assert await add_definition_start(runtime.db, "default", question, added) == added
    other = "How many rules page the on-call engineer?"
    assert await add_definition_start(runtime.db, "default", other, later[-1:]) == later[-1:]
