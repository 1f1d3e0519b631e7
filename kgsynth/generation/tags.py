"""Inline entity tags: the constraint a writer obeys and the aligner that removes them.

A writer (LLM or template) produces ``... started on [[metformin|C1]] for ...`` where
``C1`` is the slot of the instance's first concept and the surface is one of that
concept's allowed names; ``[[this drug|A1]]`` is an anaphor of that concept (no entity, a
phrase that refers back to its latest mention; a fact may be stated with it).
:func:`strip_tags` turns this into plain text plus entities with exact offsets, computed by
the engine while it copies characters, so offsets never depend on a model counting characters.
The constraint that admits only such tags, and forces each fact's relation phrase between them,
is :mod:`kgsynth.generation.grammar`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kgsynth.cypher.instance import InstanceConcept, MotifInstance
from kgsynth.generation.record import Anaphor, Entity
from kgsynth.graph.schema import SYMBOL_GROUPS

TAG = re.compile(r"\[\[([^\[\]|]+)\|([CA])(\d+)\]\]")
#: What an anaphor may say: one to four words, as "this gene" or "the drug" (capitalized at a sentence start).
_ANAPHOR_TEXT = re.compile(r"[A-Za-z][a-z]*(?: [a-z]+){0,3}")
#: Characters a surface form or free text may not contain (they delimit tags).
_RESERVED = set("[]|")
#: One lower-case word with an adjective ending ("proinflammatory", "nephrotoxic", "depressed";
#: not "-ing": "bleeding", "vomiting" are nouns).
_ADJECTIVE_NAME = re.compile(r"[a-z][a-z-]{5,}(?:ic|ive|al|ous|ory|ed)")
#: A mention that opens with three or more lower-case letters and no capital among its first letters:
#: capitalized at a sentence start ("caspase-3" -> "Caspase-3"; not "mTOR", "erbB3", "p53", "rs12").
_PLAIN_START = re.compile(r"[a-z]{3,}(?![A-Za-z])")
#: A name that is a database reference ("OMIM 305600", an abstract's citation annotated as a mention).
_DATABASE_ID = re.compile(r"(?:OMIM|MIM)\s*[:#]?\s*\d+", re.IGNORECASE)


class TagError(ValueError):
    """The tagged text cannot be turned into a sound annotation (the reason is the message)."""


def slot_label(index: int) -> str:
    """The tag label of the concept at ``index`` (0-based) in ``instance.concepts``."""
    return f"C{index + 1}"


def surfaces(concept: InstanceConcept) -> list[str]:
    """Allowed surface forms of a concept: preferred name first, then synonyms, then its written forms.

    A disease or phenotype name that is one adjective ("proinflammatory", "hyperkinetic": corpora
    such as BioRED name a concept by whatever its first mention was) is left out when the concept
    has another name: a fact sentence puts its mentions where nouns go ("ICAM1 has been linked to
    proinflammatory"). So is a one-letter name ("N", an abstract's own abbreviation of nimesulide),
    and a database reference ("OMIM 305600" for focal dermal hypoplasia).
    Written forms (adjectives included) are kept: their templates place them. A name that differs
    from another only by its first capital ("Amiodarone", an abstract's sentence start or list) gives
    way to the lower-case one, outside gene and variant names; a sentence start capitalizes it again.
    """
    names = [n for n in (concept.name, *concept.synonyms)
             if len(n.strip()) > 1 and not _DATABASE_ID.fullmatch(n.strip())] or [concept.name]
    if concept.group in ("Disease", "Phenotype"):
        names = [n for n in names if not _ADJECTIVE_NAME.fullmatch(n)] or names
    if concept.group not in SYMBOL_GROUPS:  # "Amiodarone" beside "amiodarone": a capital of place, not of name
        names = [n for n in names if not (n[:1].isupper() and n[:1].lower() + n[1:] in names)]
    seen: list[str] = []
    for form in [*names, *concept.written]:
        form = " ".join(form.split())
        if form and not (_RESERVED & set(form)) and form not in seen:
            seen.append(form)
    return seen or [concept.id]


def tag(surface: str, index: int) -> str:
    return f"[[{surface}|{slot_label(index)}]]"


def anaphor_tag(phrase: str, index: int) -> str:
    """``phrase`` ("this gene") as an anaphor of the concept at ``index``: it refers to its latest mention."""
    return f"[[{phrase}|A{index + 1}]]"


def sentence_case(sentence: str) -> str:
    """``sentence`` with its first letter capitalized, inside a leading tag too (if it is a plain word).

    A sentence may open with a mention ("[[cyclosporine|C1]] was reported ..."): the mention
    is then written "Cyclosporine", as any text would, and :func:`strip_tags` accepts that
    capitalized form of an allowed name at the start of a sentence only. A first word whose
    first letters are not three lower-case ones ("mTOR", "erbB3", "p53", "p.R491C", "rs1042522",
    "5-HT") stays as it is; "caspase-3" is written "Caspase-3".
    """
    if sentence.startswith("[["):
        return "[[" + opening_surface(sentence[2:])
    return sentence[:1].upper() + sentence[1:]


def opening_surface(surface: str) -> str:
    """How a mention is written when it opens a sentence: "Cyclosporine", "Caspase-3", but "mTOR", "p53"."""
    return surface[:1].upper() + surface[1:] if _PLAIN_START.match(surface) else surface


def _opens_sentence(before: str) -> bool:
    """Whether text ending in ``before`` is at the start of a sentence (or of a line)."""
    rest = before.rstrip(" ")
    return not rest or rest[-1] in "\n.!?:"


def _allowed(surface: str, concept: InstanceConcept, at_sentence_start: bool) -> bool:
    allowed = surfaces(concept)
    if surface in allowed:
        return True
    return at_sentence_start and any(opening_surface(form) == surface for form in allowed)


@dataclass(frozen=True)
class AnaphorSpan:
    """Where an anaphor stands in the plain text and which concept it refers to."""

    start: int
    end: int
    text: str
    concept_id: str


@dataclass(frozen=True)
class Stripped:
    """Plain text and the entities the tags marked in it."""

    text: str
    entities: list[Entity]
    anaphors: list[AnaphorSpan] = field(default_factory=list)


def strip_tags(tagged: str, instance: MotifInstance) -> Stripped:
    """Remove tags, returning plain text and exactly-aligned, grounded entities.

    Raises :class:`TagError` for a tag naming an unknown slot, a surface the concept does
    not allow (a sentence may open with an allowed name capitalized), an anaphor before any mention
    of its concept, or a stray ``[[``/``]]`` (e.g. a truncated tag).
    """
    parts: list[str] = []
    entities: list[Entity] = []
    anaphors: list[AnaphorSpan] = []
    pos = 0  # position in the plain text built so far
    last = 0
    for match in TAG.finditer(tagged):
        chunk = tagged[last : match.start()]
        parts.append(chunk)
        pos += len(chunk)
        surface, kind, slot = match.group(1), match.group(2), int(match.group(3))
        if not 1 <= slot <= len(instance.concepts):
            raise TagError(f"tag {kind}{slot} names no concept of instance {instance.id}")
        concept = instance.concepts[slot - 1]
        if kind == "A":
            if not _ANAPHOR_TEXT.fullmatch(surface):
                raise TagError(f"anaphor {surface!r} is not one to four plain words")
            if not any(e.concept_id == concept.id for e in entities):
                raise TagError(f"anaphor {surface!r} ({kind}{slot}) comes before any mention of {concept.id}")
            anaphors.append(AnaphorSpan(pos, pos + len(surface), surface, concept.id))
            parts.append(surface)
            pos += len(surface)
            last = match.end()
            continue
        if not _allowed(surface, concept, _opens_sentence("".join(parts))):
            raise TagError(f"{surface!r} is not an allowed name of {concept.id} ({concept.name})")
        entities.append(
            Entity(
                id=f"T{len(entities) + 1}",
                start=pos,
                end=pos + len(surface),
                text=surface,
                type=concept.group,
                concept_id=concept.id,
            )
        )
        parts.append(surface)
        pos += len(surface)
        last = match.end()
    parts.append(tagged[last:])
    text = "".join(parts)
    if "[[" in text or "]]" in text:
        raise TagError("unbalanced or malformed entity tag left in the text")
    return Stripped(text=text, entities=entities, anaphors=anaphors)


def resolve_anaphors(anaphors: list[AnaphorSpan], entities: list[Entity]) -> list[Anaphor]:
    """Each anaphor with its antecedent: the latest mention of its concept before it.

    ``entities`` are the final ones (:func:`complete_mentions` keeps every tagged mention and
    renumbers), so the tagged mention :func:`strip_tags` required before each anaphor is among them.
    """
    out = []
    for a in anaphors:
        antecedent = [e for e in entities if e.concept_id == a.concept_id and e.end <= a.start][-1]
        out.append(Anaphor(start=a.start, end=a.end, text=a.text, antecedent=antecedent.id))
    return out


def complete_mentions(text: str, entities: list[Entity], instance: MotifInstance,
                      reserved: list[AnaphorSpan] | None = None) -> list[Entity]:
    """Add untagged occurrences of the instance's names in ``text`` (whole words, any case).

    A writer may name a concept in free text without tagging it; left alone, that
    mention would be an ``O`` span in NER training data. The engine finds such
    occurrences itself (offsets from the regex match, so still exact) and renumbers
    entities ``T1..`` in text order. Nothing is found inside ``reserved`` spans (anaphors).
    """
    forms = sorted(((s, i) for i, c in enumerate(instance.concepts) for s in surfaces(c)), key=lambda f: -len(f[0]))
    if not forms:
        return entities
    by_form = {s.lower(): i for s, i in reversed(forms)}
    pattern = re.compile(r"(?<!\w)(?:" + "|".join(re.escape(s) for s, _ in forms) + r")(?!\w)", re.IGNORECASE)
    found = list(entities)
    for m in pattern.finditer(text):
        if any(m.start() < e.end and e.start < m.end() for e in [*found, *(reserved or [])]):
            continue
        concept = instance.concepts[by_form[m.group().lower()]]
        found.append(Entity(id="", start=m.start(), end=m.end(), text=m.group(), type=concept.group,
                            concept_id=concept.id))
    found.sort(key=lambda e: (e.start, e.end))
    return [e.model_copy(update={"id": f"T{n}"}) for n, e in enumerate(found, 1)]
