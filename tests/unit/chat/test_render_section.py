"""A section rendered whole (`chat.render.render_section`): cut at a length, the part that
holds the unit the question matched best is still shown, after an ellipsis; when that unit is
an item of a list or a row of a table, the part shown is that list or table."""

from __future__ import annotations

from ragops.chat.render import render_section
from ragops.chat.units import Unit, passage_units

INTRO = "Start here. " + "This paragraph explains the background at length. " * 8
STEPS = "\n".join(f"{n}. Run step number {n} of the repair." for n in range(1, 6))
ROWS = "| setting | meaning |\n|---|---|\n| RAGOPS_ALPHA | the first knob |\n"
ROWS += "| RAGOPS_BETA | the second knob |\n"


def _units(text: str) -> list[Unit]:
    return passage_units(1, text)


def _item(units: list[Unit], words: str) -> Unit:
    return next(u for u in units if u.in_block and words in u.text)


def test_a_list_item_past_the_cut_shows_its_list_not_a_crash() -> None:
    # the list is the section's last part: the item's list must be found behind it
    units = _units(f"{INTRO}\n\n{STEPS}\n")
    keep = _item(units, "step number 4")
    body = render_section(units, limit=100, keep=keep)
    assert body.startswith("Start here.")
    assert "\u2026" not in body.splitlines()[0]
    assert "4. Run step number 4 of the repair." in body


def test_a_table_row_past_the_cut_shows_its_table_not_the_part_after_it() -> None:
    closing = "A closing paragraph that says nothing the question asked about. " * 3
    units = _units(f"{INTRO}\n\n{STEPS}\n\n{ROWS}\n{closing}\n")
    keep = _item(units, "RAGOPS_BETA")
    body = render_section(units, limit=100, keep=keep)
    assert "RAGOPS_BETA" in body
    assert "closing paragraph" not in body


def test_without_a_cut_every_part_is_shown_in_order() -> None:
    units = _units(f"Short intro.\n\n{STEPS}\n")
    body = render_section(units, keep=_item(units, "step number 2"))
    assert body.splitlines()[0] == "Short intro."
    assert body.count("Run step number") == 5
