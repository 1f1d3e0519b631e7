"""Subject-verb agreement of a fact sentence: "Seizures were associated with ...", not "Seizures was".

Lexicon phrasings are written for a singular subject ("{subject} was associated with {object}").
The mention named first is the sentence's subject, and corpus names are often plural ("tumors",
"absence seizures", "calcineurin inhibitors", "NSAIDs"), so the phrase's first verb takes that
mention's number: ``is``/``was``/``has`` become ``are``/``were``/``have`` and a present-tense verb
loses its ``-s`` ("binds" -> "bind"); past tenses and modals stay ("induced", "can cause").
Both forms of a phrase are the same trigger to the statement finder.
"""

from __future__ import annotations

import re
from functools import cache

from kgsynth.generation.tags import TAG

_AUXILIARIES = {"is": "are", "was": "were", "has": "have", "does": "do"}
#: Words that end a noun phrase's head: "mutations in BRCA1", "extract of Daucus carota seeds".
_PREPOSITIONS = {"of", "in", "with", "to", "from", "for", "on", "at", "by", "after", "during", "among", "without"}
#: A symbol-like plural: capitals or digits, then a lower-case s ("NSAIDs", "SNPs", "ACEIs").
_SYMBOL_PLURAL = re.compile(r"[A-Z0-9]{2,}s")


@cache
def _word_lists() -> tuple[frozenset[str], frozenset[str]]:
    from kgsynth.generation.prompt import read_yaml

    table = read_yaml("written_forms.yaml")["number"]
    return frozenset(table["singular_ending_in_s"]), frozenset(table["plural_not_ending_in_s"])


def head_word(surface: str) -> str:
    """The word that carries a noun phrase's number: the last before any preposition, last hyphen part."""
    words = []
    for word in surface.split():
        if word.lower() in _PREPOSITIONS and words:
            break
        words.append(word)
    head = words[-1].strip(",;:()[]") if words else ""
    return head.rsplit("-", 1)[-1] if "-" in head[1:] else head


def reads_plural(surface: str) -> bool:
    """Whether a mention is a plural noun phrase ("tumors", "calcineurin inhibitors", "NSAIDs").

    Not plural: Latin and Greek singulars in -us/-is/-ss ("sirolimus", "tumorigenesis", "weight
    loss"), possessives ("Parkinson's"), all-capital acronyms ("AIDS"), short capitalized symbols
    ("Ras", "Fas"), and the singular words of ``written_forms.yaml``'s ``number`` lists
    ("diabetes", "measles", "genetics").
    """
    head = head_word(TAG.sub(r"\1", surface))
    singular, plural = _word_lists()
    low = head.lower()
    if low in plural:
        return True
    if len(head) < 3 or low in singular or head.endswith(("'s", "\u2019s")) or head.isupper():
        return False
    if _SYMBOL_PLURAL.fullmatch(head):
        return True
    if not head[:-1].isalpha() or (head[0].isupper() and len(head) <= 4) or head[1:].lower() != head[1:]:
        return False  # "p53", "Ras", "MeSH"-like mixed symbols
    if low.endswith("omics"):
        return False
    return low.endswith("s") and not low.endswith(("ss", "us", "is", "os"))


def plural_phrase(phrase: str) -> str:
    """``phrase`` for a plural subject: its first verb (after any -ly adverb) in the plural."""
    words = phrase.split(" ")
    i = next((n for n, w in enumerate(words) if not w.endswith("ly")), 0)
    word = words[i]
    if word in _AUXILIARIES:
        words[i] = _AUXILIARIES[word]
    elif word.endswith(("sses", "shes", "ches", "xes")):
        words[i] = word[:-2]
    elif word.endswith("s") and not word.endswith("ss"):
        words[i] = word[:-1]
    return " ".join(words)


def agreeing(phrase: str, first_mention: str) -> str:
    """``phrase`` as it follows ``first_mention`` (a plain surface or a tag): plural when that reads plural."""
    return plural_phrase(phrase) if reads_plural(first_mention) else phrase
