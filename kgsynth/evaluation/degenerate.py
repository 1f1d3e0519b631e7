"""Degenerate text: what a reader would call junk in a note, found without any model.

The writers' grammar rules most of it out; this checker measures what got through (and what
an unconstrained writer or an old constraint produced), so the figure in ``bench/quality.py``
and the ``degenerate`` flag of ``kgsynth check`` come from one tested definition:

* ``url``: a web address;
* ``markup``: tag or markup characters (``[ ] { } < > | * # _ ` ~ ^ \\``) outside mentions
  (a KG name may hold them; the writer's words may not);
* ``list_numbering``: a line opened by a list number or bullet (``1.``, ``2)``, ``-``, ``*``);
* ``joined_mention``: a mention glued to letters or digits, directly or by a hyphen or slash
  (``pasti-Glucocorticoids``, ``sugbupivacaine``);
* ``repeated_mention``: one concept named three or more times on one line;
* ``bare_line``: a line of only mentions and relation phrases, no other word;
* ``chat_talk``: the writer addresses someone, as a chat assistant does ("I'm glad to report that your
  ...", "Please provide ...", "I hope you ..."): a first-person singular or second-person word or a
  request outside mentions. Charts and abstracts speak of the patient or of "we".
"""

from __future__ import annotations

import re
from collections import Counter

from kgsynth.generation.annotate import MAX_MENTIONS_PER_LINE
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.record import NoteRecord

URL = re.compile(r"(?:https?:|ftp:|www\.|://)|\b[\w-]+\.(?:com|org|net|gov|edu|io)\b", re.IGNORECASE)
MARKUP = re.compile(r"[\[\]{}<>|*#_`~^\\]")
LIST_NUMBER = re.compile(r"^\s*(?:\d+\s*[.)]|[a-zA-Z][.)]\s|[-*\u2022]\s)")
#: A bare "I" is a Roman numeral as often ("type I interferon", "phase I"): only "I" before a verb counts.
CHAT_TALK = re.compile(r"\b(?:I'm|I've|I'll|I'd|I (?:am|have|hope|think|would|will|can|recommend|suggest|was))\b"
                       r"|\bme\b|\b(?i:my|you|you're|you've|your|yours|please|thank|thanks)\b")  # "ME" is a disease
REASONS = ("url", "markup", "list_numbering", "joined_mention", "repeated_mention", "bare_line", "chat_talk")


def _joined(text: str, start: int, end: int) -> bool:
    before = text[start - 1] if start > 0 else " "
    after = text[end] if end < len(text) else " "
    if before.isalnum() or after.isalnum():
        return True
    if before in "-/" and start > 1 and text[start - 2].isalnum():
        return True
    return after in "-/" and end + 1 < len(text) and text[end + 1].isalnum()


def degenerate_reasons(record: NoteRecord, lexicon: Lexicon | None = None) -> list[str]:
    """Every kind of junk in ``record`` (empty for a clean note), each reason once, in :data:`REASONS` order."""
    lexicon = lexicon or load_lexicon()
    text = record.text
    found: set[str] = set()
    free = list(text)  # the writer's own words: mentions are names from the KG, whatever characters they hold
    for e in record.entities:
        free[e.start : e.end] = " " * (e.end - e.start)
    words = "".join(free)
    if URL.search(words):
        found.add("url")
    if MARKUP.search(words):
        found.add("markup")
    if CHAT_TALK.search(words):
        found.add("chat_talk")
    triggers = [(s.trigger_start, s.trigger_end) for s in lexicon.statements(text, record.entities, record.anaphors)]
    offset = 0
    for line in text.split("\n"):
        end = offset + len(line)
        if LIST_NUMBER.match(words[offset:end]):  # a KG name ("c. 1093-1G>T") may open a line
            found.add("list_numbering")
        mentions = [e for e in record.entities if offset <= e.start < end]
        if any(_joined(text, e.start, e.end) for e in mentions):
            found.add("joined_mention")
        if mentions and max(Counter(e.concept_id for e in mentions).values()) > MAX_MENTIONS_PER_LINE:
            found.add("repeated_mention")
        if mentions:
            rest = list(line)
            for s, e in [(m.start, m.end) for m in mentions] + [t for t in triggers if offset <= t[0] < end]:
                rest[s - offset : e - offset] = " " * (e - s)
            if not re.search(r"[A-Za-z0-9]", "".join(rest)):
                found.add("bare_line")
        offset = end + 1
    return [r for r in REASONS if r in found]
