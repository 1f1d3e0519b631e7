"""Abbreviations a document defines, ``long form (SF)``, found with the Schwartz-Hearst rule.

Biomedical text names a concept once in full and then by its short form ("familial
Mediterranean fever (FMF) ... FMF patients"); a linker that sees only "FMF" has to guess.
Every normalization system worth comparing to resolves these first (Ab3P, Schwartz-Hearst),
so :func:`kgsynth.linking.mentions.mentions_of` gives each mention that is a short form
defined in its document the long form to link instead.

Schwartz & Hearst (PSB 2003): a short form is a parenthesized token of 2-10 characters
with a letter, starting with a letter or digit, of at most two words; its long form is
the shortest run of the words just before the parenthesis (at most
``min(len(SF) + 5, 2 * len(SF))`` of them; here also at most ``len(SF) + 1``, which drops
loose matches such as a gene symbol "expanded" over a whole clause) in which the short form's characters appear in
order, right to left, the first one at the start of a word.
"""

from __future__ import annotations

import re

_PAREN = re.compile(r"\(([^()]{2,10})\)")
_WORD = re.compile(r"\S+")


def _valid_short(short: str) -> bool:
    """A letter or digit first, a letter and a capital in it, at most two words ("(see)" is no short form)."""
    return (short[0].isalnum() and any(c.isalpha() for c in short) and any(c.isupper() for c in short)
            and len(short.split()) <= 2)


def _long_form(short: str, before: str) -> str | None:
    """The long form of ``short`` at the end of ``before``, or ``None``."""
    words = list(_WORD.finditer(before))
    window = words[-min(len(short) + 5, 2 * len(short)):]
    if not window:
        return None
    candidate = before[window[0].start():].rstrip()
    s, lf = len(short) - 1, len(candidate) - 1
    while s >= 0:
        c = short[s].lower()
        if not c.isalnum():
            s -= 1
            continue
        while lf >= 0 and (candidate[lf].lower() != c or (s == 0 and lf > 0 and candidate[lf - 1].isalnum())):
            lf -= 1
        if lf < 0:
            return None
        lf -= 1
        s -= 1
    start = candidate.rfind(" ", 0, lf + 1) + 1
    long = candidate[start:].strip(" ,;:")
    if len(long) <= len(short) or short.lower() in long.lower().split() or len(long.split()) > len(short) + 1:
        return None
    return long


def abbreviations(text: str) -> dict[str, str]:
    """Short form -> long form for every definition in ``text`` (the first definition wins)."""
    found: dict[str, str] = {}
    for match in _PAREN.finditer(text):
        short = match.group(1).strip()
        if len(short) < 2 or short in found or not _valid_short(short):
            continue
        stop = text.rfind(". ", 0, match.start())
        sentence_start = stop + 2 if stop >= 0 else 0
        long = _long_form(short, text[sentence_start:match.start()])
        if long:
            found[short] = long
    return found
