"""What a unit of the extractive answerer is read with besides its own words: the sentences
next to it, and the whole of its section.

`neighbour_terms` gives each sentence the terms of the sentences just before and after it in
its paragraph or list item (`shapes.NEIGHBOUR_SHARE` of what they add counts for it).

A section whose answer is spread over several units (a list and the sentence that introduces
it, the steps of a procedure cut into two chunks) holds more of the question's terms as a
whole than any one of its units does; `section_evidence` gives every passage the IDF-weighted
share of the question's terms (`shapes.Context.coverage`) that its whole section holds, and
`shapes.score_unit` adds a small part of it (`shapes.SECTION_WEIGHT`) to each unit's score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ragops.chat.shapes import Context
    from ragops.chat.units import Unit


def section_evidence(context: Context, units: list[Unit], bags: list[set[str]]) -> list[float]:
    """For each passage, the share of the question's terms that its section holds: the terms
    of every unit of every retrieved passage of the same document and heading path, with that
    heading path and the document's title (`bags` are the units' terms, in order)."""
    pooled: dict[tuple[str, str], set[str]] = {}
    keys = list(zip(context.documents, context.sections, strict=True))
    for number, key in enumerate(keys):
        pooled.setdefault(key, set()).update(context.headings[number])
    for unit, bag in zip(units, bags, strict=True):
        pooled[keys[unit.passage - 1]].update(bag)
    scores = {key: context.coverage(bag) for key, bag in pooled.items()}
    return [scores[key] for key in keys]


def neighbour_terms(units: list[Unit], bags: list[set[str]]) -> dict[tuple[int, int], set[str]]:
    """For each sentence, the terms of the sentences just before and after it in the same
    paragraph or list item: a sentence is read with them ("Safe while the service runs." after
    the command it is about)."""
    out: dict[tuple[int, int], set[str]] = {}
    sentences = [(u, bag) for u, bag in zip(units, bags, strict=True) if u.kind == "sentence"]
    for i, (unit, _) in enumerate(sentences):
        near: set[str] = set()
        for j in (i - 1, i + 1):
            if 0 <= j < len(sentences):
                other, bag = sentences[j]
                if other.passage == unit.passage and other.block == unit.block >= 0:
                    near |= bag
        out[(unit.passage, unit.position)] = near
    return out
