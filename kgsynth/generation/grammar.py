"""What a writer may produce: one line per fact, stating it with a lexicon phrase, in clean words.

Every fact line is ``[lead] MENTION PHRASE MENTION [tail].``: the two mentions are tags of the
fact's concepts (:mod:`kgsynth.generation.tags`), PHRASE is one of the fact's phrasings in the
lexicon in the order that phrasing names (either order for symmetric types), and lead and tail
are runs of plain words: letters, digits, internal hyphens or apostrophes, decimals and percents,
with commas, semicolons or colons after a word. So no URL, bracket, markup, list number or tag
character can appear, a mention is always set off by a space (or the final period or a comma),
each run has at most ``max_words`` words, and a line always has at least one word beside the
fact. The same pieces serve the transformers backend (one regex for llguidance) and the openai
backend (JSON-schema string patterns for the free runs, an enum for the phrase). A line that
opens with a mention writes it sentence-cased ("Cyclosporine was ...", but "mTOR" as it is).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.agreement import agreeing
from kgsynth.generation.compose import distractors
from kgsynth.generation.lexicon import Lexicon, Phrasing
from kgsynth.generation.tags import opening_surface, sentence_case, slot_label, surfaces, tag

if TYPE_CHECKING:
    from kgsynth.generation.context_words import FactContext

#: Longest run of letters or digits in one word part.
PART = 16
_ALNUM = "[A-Za-z0-9]"
#: One part of a word: lower case or digits, or one capital before lower case ("Metformin"), or
#: up to 6 characters of any case ("mRNA", "HbA1c", "CT"). No longer run of capitals: SmolLM2-135M
#: filled free runs with "AUGUSTUS, MOUNTAIN COUNTRY; CHICAGO; LONDON PUBLISHING".
_PART = rf"(?:[a-z0-9]{{1,{PART}}}|[A-Z][a-z0-9]{{1,{PART - 1}}}|{_ALNUM}{{1,6}})"
#: A word: up to three parts joined by a hyphen or apostrophe ("64-year-old"), or a decimal/percent.
WORD = rf"(?:{_PART}(?:['-]{_PART}){{0,2}}|[0-9]{{1,4}}[.][0-9]{{1,3}}%?|[0-9]{{1,4}}%)"
#: The first word of a line starts with a capital letter (so no list numbering can open it).
FIRST_WORD = rf"(?:[A-Z][a-z0-9]{{0,{PART - 1}}}|[A-Z]{_ALNUM}{{0,5}})(?:['-]{_PART}){{0,2}}"
PUNCT = "[,;:]"
WORD_CHARS = 3 * PART + 2 + 1  # longest word, with its trailing punctuation
DEFAULT_MAX_WORDS = 10


def words(max_words: int, first: bool = False, trailing_punct: bool = False) -> str:
    """A run of 1..max_words words separated by single spaces (punctuation may follow a word)."""
    n = max(1, max_words)
    head = FIRST_WORD if first else WORD
    return rf"{head}(?:{PUNCT}? {WORD}){{0,{n - 1}}}" + (f"{PUNCT}?" if trailing_punct else "")


def _tag_alternatives(instance: MotifInstance, concept_id: str, opening: bool = False,
                      forms: list[str] | None = None) -> str:
    """A tag of the concept with any of its surfaces (or of ``forms``); ``opening``: sentence-cased."""
    index = next(i for i, c in enumerate(instance.concepts) if c.id == concept_id)
    forms = forms if forms is not None else surfaces(instance.concepts[index])
    if opening:
        forms = list(dict.fromkeys(opening_surface(f) for f in forms))
    names = "|".join(re.escape(s) for s in forms)
    return rf"\[\[(?:{names})\|{slot_label(index)}\]\]"


def fact_core(instance: MotifInstance, subject: str, object_: str, phrasings: list[Phrasing],
              opening: bool = False) -> str:
    """``MENTION PHRASE MENTION`` for every allowed phrasing of one fact (``opening``: at the line start).

    The phrase agrees in number with the mention named first: its plural surfaces ("seizures") are
    followed by the plural form of the phrase ("were associated with"), the others by the singular.
    """
    ends = {"subject": subject, "object": object_}
    forms = {cid: surfaces(next(c for c in instance.concepts if c.id == cid)) for cid in ends.values()}
    seconds = {cid: _tag_alternatives(instance, cid) for cid in ends.values()}
    alts = []
    for p in phrasings:
        first_id, second_id = ends[p.first], ends[p.second]
        by_phrase: dict[str, list[str]] = {}
        for form in forms[first_id]:
            by_phrase.setdefault(agreeing(p.phrase, form), []).append(form)
        alts += [f"{_tag_alternatives(instance, first_id, opening, named)} {re.escape(phrase)} {seconds[second_id]}"
                 for phrase, named in by_phrase.items()]
    return "(?:" + "|".join(alts) + ")"


def line_order(instance: MotifInstance) -> list[tuple[str, int]]:
    """The lines of a note, in order: ``("fact", relation index)`` per relation and ``("mention", concept
    index)`` per distractor of an abstract note (:func:`kgsynth.generation.compose.distractors`).

    The first fact comes first (an abstract's title states its main finding), then one line per
    distractor, which names it in words of background or methods and states no relation (so the
    note has unrelated pairs, as real abstracts do), then the other facts.
    """
    facts = [("fact", i) for i in range(len(instance.relations))]
    extra = {c.id for c in distractors(instance)}
    others = [("mention", i) for i, c in enumerate(instance.concepts) if c.id in extra]
    return facts[:1] + others + facts[1:]


def note_regex(instance: MotifInstance, lexicon: Lexicon, max_words: int = DEFAULT_MAX_WORDS,
               note_type: str | None = None, context_words: str = "free", avoid: Sequence[str] = ()) -> str:
    """The constraint: one line per fact, each stating it with its phrase, with words beside it, and one
    line per distractor naming it with words beside it (:func:`line_order`). With ``note_type``, a fact's
    phrases are those a note of that type can state (:func:`~kgsynth.generation.lexicon.for_note`: no
    "correlated with" about one patient).

    ``context_words="free"``: the words beside a mention are free runs of plain words (:func:`words`).
    ``"vetted"``: a fact line takes one of the leads and/or tails that fit the fact in this note
    (:func:`~kgsynth.generation.context_words.context_for_fact`, ``avoid`` the note's population words),
    and a distractor line is one of the distractor sentences of its group, so the writer only chooses; a
    single-concept note is one of the template backend's sentences for it
    (:func:`~kgsynth.generation.mention.mention_regex`)."""
    # imported here: context_words reads the prompt files, and prompt imports this module
    from kgsynth.generation.context_words import CONTEXT_WORDS, context_for_fact

    if context_words not in CONTEXT_WORDS:
        raise ValueError(f"context_words must be one of {', '.join(CONTEXT_WORDS)}, not {context_words!r}")
    if instance.single_concept:
        from kgsynth.generation.mention import mention_regex

        return mention_regex(instance, max_words, context_words)
    lead = words(max_words, first=True, trailing_punct=True) + " "
    tail = f",? {words(max_words)}"
    lines = []
    for kind, key in line_order(instance):
        if kind == "mention":
            concept_id = instance.concepts[key].id
            core = _tag_alternatives(instance, concept_id)
            opening = _tag_alternatives(instance, concept_id, opening=True)
            if context_words == "vetted":
                lines.append(_vetted_mention(instance.concepts[key].group, core, avoid))
                continue
        else:
            rel = instance.relations[key]
            phrasings = lexicon.for_fact(instance, rel, note_type)
            core = fact_core(instance, rel.subject, rel.object, phrasings)
            opening = fact_core(instance, rel.subject, rel.object, phrasings, opening=True)
            if context_words == "vetted":
                fit = context_for_fact(instance, rel, note_type, avoid, first=not lines)
                if fit.leads or fit.tails:
                    lines.append(_vetted_fact(fit, core, opening))
                    continue
        lines.append(rf"(?:{lead}{core}(?:{tail})?|{opening}{tail})\.")
    return r"\n".join(lines)


def _alternatives(texts: Sequence[str]) -> str:
    return "(?:" + "|".join(re.escape(t) for t in texts) + ")"


def _vetted_fact(fit: FactContext, core: str, opening: str) -> str:
    """A fact line with a vetted lead, tail or both: ``LEAD CORE[ TAIL].`` or ``OPENING TAIL.``; a
    setting lead takes no setting tail."""
    alts = []
    for leads, tails in fit.lead_groups():
        after = rf"(?: {_alternatives(tails)})?" if tails else ""
        alts.append(rf"{_alternatives(leads)} {core}{after}")
    if fit.tails:
        alts.append(rf"{opening} {_alternatives(fit.tails)}")
    return "(?:" + "|".join(alts) + r")\."


def _vetted_mention(group: str, mention: str, avoid: Sequence[str]) -> str:
    """A distractor line: one of the distractor sentences of ``group``, its ``{a}`` the concept's tag."""
    from kgsynth.generation.context_words import distractor_templates

    sentences = []
    for template in distractor_templates(group, avoid):
        before, _, after = template.partition("{a}")
        sentences.append(re.escape(sentence_case(before)) + mention + re.escape(after))
    return "(?:" + "|".join(sentences) + ")"


def max_note_chars(instance: MotifInstance, lexicon: Lexicon, max_words: int = DEFAULT_MAX_WORDS) -> int:
    """Upper bound on the length of any text :func:`note_regex` admits (sizes token budgets)."""
    if instance.single_concept:
        from kgsynth.generation.mention import max_mention_chars

        return max_mention_chars(instance, max_words)

    def longest_tag(concept_id: str) -> int:
        index = next(i for i, c in enumerate(instance.concepts) if c.id == concept_id)
        return max(len(tag(s, index)) for s in surfaces(instance.concepts[index]))

    run = max(1, max_words) * (WORD_CHARS + 1) + 2
    total = 0
    for rel in instance.relations:
        phrase = max(len(form) for p in lexicon.for_fact(instance, rel) for form in p.forms)
        total += 2 * run + longest_tag(rel.subject) + longest_tag(rel.object) + phrase + 4
    for c in distractors(instance):
        total += 2 * run + longest_tag(c.id) + 3
    return total


def json_words_pattern(max_words: int, first: bool = False, optional: bool = False) -> str:
    """A free run as a JSON-schema ``pattern``: plain groups only (llama.cpp's converter refuses ``(?:``),
    no backslashes or quotes (it copies the pattern into its grammar unescaped)."""
    body = words(max_words, first=first, trailing_punct=first).replace("(?:", "(")
    return f"^({body})?$" if optional else f"^{body}$"


def join_fact(before: str, first: str, phrase: str, second: str, after: str) -> str:
    """One fact line from JSON pieces (tagged mentions), spaced exactly as :func:`note_regex` admits;
    a distractor's line is ``join_fact(before, mention, "", "", after)``."""
    parts = [p for p in (before.strip(), first, phrase.strip(), second) if p]
    line = sentence_case(" ".join(parts))
    after = after.strip()
    if after:
        line += ("" if after.startswith(",") else " ") + after
    return line + "."
