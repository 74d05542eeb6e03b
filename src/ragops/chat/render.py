"""A section's units rendered as an answer's body (`chat.blocks` answers a procedure with a
whole section): paragraphs, then lists and tables one item a line, cut at a length that
keeps the item the question matched best."""

from __future__ import annotations

from ragops.chat.units import Unit


def render_section(units: list[Unit], limit: int = 1200, keep: Unit | None = None) -> str:
    """A passage's units as text: paragraphs, then lists and tables one item a line, cut
    after `limit` characters; the part holding `keep` (the section's best unit, or the list
    or paragraph it is a sentence of) is shown even past the cut, after an ellipsis: the item
    that matched the question is the one the reader needs."""
    parts: list[str] = []
    paragraph: list[str] = []
    blocks: list[tuple[Unit, int]] = []  # each list or table, and the part that shows it
    holder = -1
    for unit in units:
        if unit.in_block:
            continue
        if unit.kind == "sentence":
            if unit is keep:
                holder = len(parts)
            paragraph.append(unit.text)
            continue
        if paragraph:
            parts.append(" ".join(paragraph))
            paragraph = []
        if unit is keep:
            holder = len(parts)
        blocks.append((unit, len(parts)))
        parts.append(unit.text)
    if paragraph:
        parts.append(" ".join(paragraph))
    if keep is not None and keep.in_block:
        holder = _block_of(keep, blocks)
    kept: list[str] = []
    total = 0
    for number, part in enumerate(parts):
        if kept and total + len(part) > limit:
            if holder >= number:
                held = parts[holder].splitlines()
                kept = [  # an item the chunks' overlap cut, shown whole below, goes
                    "\n".join(
                        line
                        for line in part.splitlines()
                        if not any(h != line and h.startswith(line) for h in held)
                    )
                    for part in kept
                ]
                kept.extend(["\u2026"] * (holder > number) + [parts[holder]])
            break
        kept.append(part)
        total += len(part)
    return "\n".join(kept)


def _block_of(item: Unit, blocks: list[tuple[Unit, int]]) -> int:
    """The part showing the list or table an item (a list item's sentence, a table's row)
    belongs to: the last block of its passage that starts before it; -1 when the section
    shows none (the block was left out as the chunks' overlap)."""
    found = [
        (block.position, part)
        for block, part in blocks
        if block.passage == item.passage and block.position < item.position
    ]
    return max(found)[1] if found else -1
