"""Text normalisation shared by the injection detector and the output guard."""

from __future__ import annotations

import re
import unicodedata

_INVISIBLE = re.compile(r"[\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")


def normalise(text: str) -> str:
    """NFKC, no zero-width or soft-hyphen characters (they can split a phrase invisibly)."""
    return _INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
