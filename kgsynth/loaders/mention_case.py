"""A corpus mention as it is written mid-sentence: "Histamine" at a title's start names "histamine".

A concept loaded from a corpus is named by its mentions, and the first mention of a concept is
often the first word of the title or of a sentence, capitalized by its position only. Written
into a note mid-sentence it reads wrong ("... was linked to Histamine"). So a mention whose
first word is capitalized by its place (a sentence start; in a Title-Case title, every word)
takes the case the document writes that word in elsewhere, mid-sentence; when the document
never does, a word that looks like a plain word is lower-cased, except in gene and variant
names ("Akt", "Ras" are symbols) and before "disease"/"syndrome" (an eponym: "Wilson disease").
Other capitals ("IL-6", "mTOR", "Parkinson's") are kept as written.
"""

from __future__ import annotations

import re

from kgsynth.graph.schema import SYMBOL_GROUPS
from kgsynth.loaders.corpus import CorpusDocument, CorpusMention

#: A word capitalized only in its first letter ("Histamine"; not "IL", "mTOR", "Parkinson's").
_CAPITALIZED = re.compile(r"[A-Z][a-z]+")
_EPONYM_HEADS = ("disease", "syndrome")


def _title_case(title: str) -> bool:
    """A title written in Title Case ("Effects Of Histamine On Gastric Secretion")."""
    words = [w for w in title.split() if len(w) >= 4 and w[0].isalpha()]
    return len(words) >= 3 and sum(w[0].isupper() for w in words) >= 0.8 * len(words)


def _positional(doc: CorpusDocument, start: int, title_case: bool) -> bool:
    """Whether a word at ``start`` is capitalized by where it stands, not by what it is."""
    if title_case and start < len(doc.title):
        return True
    before = doc.text[:start].rstrip()
    return not before or before[-1] in ".!?:\n" or (bool(doc.title) and start == len(doc.title) + 1)


def _word_case(doc: CorpusDocument, word: str, title_case: bool, keep_unseen: bool) -> str:
    """``word`` (capitalized by its place) as the document writes it mid-sentence."""
    lower = word[0].lower() + word[1:]
    elsewhere = {m.group() for m in re.finditer(rf"(?<![\w-]){re.escape(word)}(?![\w'’])", doc.text, re.IGNORECASE)
                 if not _positional(doc, m.start(), title_case)}
    if word in elsewhere or (lower not in elsewhere and keep_unseen):
        return word
    return lower


def written_case(doc: CorpusDocument, mention: CorpusMention, group: str) -> str:
    """``mention.text`` with the case its words have mid-sentence (see the module docstring).

    At a sentence start only the first word is capitalized by its place; in a Title-Case title,
    every word of the mention is.
    """
    title_case = _title_case(doc.title)
    if not _positional(doc, mention.start, title_case):
        return mention.text
    whole_title = title_case and mention.start < len(doc.title)
    parts = re.split(r"([ -])", mention.text)  # words and the separators between them
    for i in range(0, len(parts), 2):
        if i and not whole_title:
            break
        match = _CAPITALIZED.fullmatch(parts[i])
        if not match:
            continue
        rest = "".join(parts[i + 1:]).strip().lower()
        keep_unseen = group in SYMBOL_GROUPS or rest.startswith(_EPONYM_HEADS)
        parts[i] = _word_case(doc, parts[i], title_case, keep_unseen)
    return "".join(parts)
