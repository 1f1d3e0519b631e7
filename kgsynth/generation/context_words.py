"""Which vetted words of context a fact sentence may take in a note of a given type.

The template backend draws one lead and/or tail from these; the LLM writers' constraints can admit
exactly these instead of free words (``context_words="vetted"``), so a small writer chooses among
phrases that fit the note and the fact rather than filling a free run. Why: SmolLM2-135M's free runs
were junk in most notes (29 read on 2026-12-04: "Glamiman eunohelon kalakashai ...", "I'm glad you're
enjoying my treatment approach", "Introduction: Case Report Abstract: EPDA is an established ...").

The sources are ``prompts/abstract.yaml`` (research wording, for abstracts and any note about a study)
and ``prompts/context.yaml`` (chart wording, for chart notes about one patient); a lead or tail given
with ``needs``/``excludes``/``not_types`` fits only the facts its rule allows, and a sentence names at
most one setting ("In vitro, ... in cultured cells" is not said).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from kgsynth.cypher.instance import InstanceRelation, MotifInstance
from kgsynth.errors import ConfigError
from kgsynth.generation.lexicon import about_one_patient
from kgsynth.generation.prompt import read_yaml

#: The two kinds of context words a writer may take: free plain words, or the vetted leads and tails.
CONTEXT_WORDS = ("free", "vetted")


def checked_context_words(value: str) -> str:
    """``value`` if it is one of :data:`CONTEXT_WORDS`; otherwise a :class:`~kgsynth.errors.ConfigError`."""
    if value not in CONTEXT_WORDS:
        raise ConfigError(f"--context-words must be one of {', '.join(CONTEXT_WORDS)}, not {value!r}")
    return value


def study_wording(note_type: str | None) -> bool:
    """Whether a fact sentence of a note of ``note_type`` takes research words (``abstract.yaml``): an
    abstract or a note about a study. A chart note about one patient takes chart words (``context.yaml``)."""
    if note_type is None:
        return False
    return note_type in read_yaml("abstract.yaml")["note_types"] or not about_one_patient(note_type)


@dataclass(frozen=True)
class FactContext:
    """The leads and tails a fact sentence may take, in their file's order; a lead that is one of
    ``settings`` ("In rats,") takes no tail that is one (no second setting)."""

    leads: tuple[str, ...]
    tails: tuple[str, ...]
    settings: frozenset[str] = frozenset()

    def tails_after(self, lead: str) -> tuple[str, ...]:
        """The tails that may close a sentence opened by ``lead`` (``""``: none)."""
        return tuple(t for t in self.tails if t not in self.settings) if lead in self.settings else self.tails

    def lead_groups(self) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
        """(leads, the tails that may follow them): the setting leads, then the others (either may be absent)."""
        groups = [tuple(t for t in self.leads if t in self.settings),
                  tuple(t for t in self.leads if t not in self.settings)]
        return [(leads, self.tails_after(leads[0])) for leads in groups if leads]


def fact_context(source: str, avoid: Sequence[str] = (), groups: set[str] | frozenset[str] = frozenset(),
                 types: set[str] | frozenset[str] = frozenset(), said: Sequence[str] = (),
                 first: bool = False) -> FactContext:
    """The leads and tails of ``source`` (``abstract.yaml`` or ``context.yaml``) that fit: none with a word
    of ``avoid`` (the note's population, :func:`~kgsynth.generation.backends.template_abstract.avoided_words`),
    each fitting the fact's semantic ``groups`` and relation ``types``, none the note has ``said`` already,
    and on the ``first`` sentence no connective ("Furthermore," with nothing before it)."""
    words = read_yaml(source)
    seen = " ".join(said).lower()
    connectives = set(words.get("connectives", ())) if first else set()

    def fitting(key: str) -> tuple[str, ...]:
        return tuple(t for t in fitting_templates(words[key], avoid, groups, types)
                     if t not in connectives and t.lower().rstrip(",") not in seen)

    return FactContext(leads=fitting("leads"), tails=fitting("tails"), settings=frozenset(words.get("settings", ())))


def avoided_words(note_type: str, rng: random.Random) -> tuple[str, ...]:
    """The words a note of ``note_type`` must not use, for the population it describes (``abstract.yaml``).

    A note about one patient (a case report) avoids study words; a research
    abstract draws its population (patients, rats or mice) and avoids the others' words.
    """
    words = read_yaml("abstract.yaml")
    if note_type in words["one_patient"]:
        return tuple(words["study_words"])
    population, draw = "patients", rng.random()
    for animal, share in words["animal_share"].items():
        if draw < share:
            population = animal
            break
        draw -= share
    return tuple(words["population_words"][population])


def note_population(note_type: str | None, seed: int) -> tuple[str, ...]:
    """The words a note of ``note_type`` avoids for its population (:func:`avoided_words`, drawn from
    ``seed``); none for a chart note, whose words come from ``context.yaml``."""
    return avoided_words(note_type, random.Random(seed)) if note_type and study_wording(note_type) else ()


def context_for_fact(instance: MotifInstance, rel: InstanceRelation, note_type: str | None,
                     avoid: Sequence[str] = (), first: bool = False) -> FactContext:
    """:func:`fact_context` for one fact of ``instance`` in a note of ``note_type``: research words with
    ``avoid`` for a study note, chart words for a chart note (the template backend's rule)."""
    groups = {c.group for c in instance.concepts if c.id in (rel.subject, rel.object)}
    if study_wording(note_type):
        return fact_context("abstract.yaml", avoid, groups, {rel.type}, first=first)
    return fact_context("context.yaml", (), groups, {rel.type}, first=first)


def distractor_templates(group: str, avoid: Sequence[str] = ()) -> list[str]:
    """The sentences that may name a distractor of ``group`` without relating it (``abstract.yaml``'s
    ``distractor``, ``{a}`` the mention), without the note's avoided words where any is left."""
    templates = read_yaml("abstract.yaml")["distractor"]
    return fitting_templates(templates, avoid, {group}) or fitting_templates(templates, (), {group})


def fitting_templates(templates: Sequence[str | dict], avoid: Sequence[str], groups: set[str] | frozenset[str],
                      types: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """The texts of ``templates`` without a word of ``avoid`` that fit ``groups`` (the groups the sentence
    names) and ``types`` (the relation types it states): a template's ``groups`` (if any) hold all of the
    groups, its ``needs`` (if any) one of them, its ``excludes`` (if any) none ("in vitro" is not said of a
    fact with a disease), and its ``not_types`` (if any) none of the types."""
    def fits(t: str | dict) -> bool:
        return isinstance(t, str) or (groups <= set(t.get("groups", groups))
                                      and ("needs" not in t or bool(groups & set(t["needs"])))
                                      and not groups & set(t.get("excludes", ()))
                                      and not types & set(t.get("not_types", ())))

    return [template_text(t) for t in _for_note(templates, avoid) if fits(t)]


def template_text(template: str | dict) -> str:
    """The text of a template given as a string or as ``{text, ...}``."""
    return template if isinstance(template, str) else template["text"]


def _for_note(templates: Sequence[str | dict], avoid: Sequence[str]) -> list[str | dict]:
    """``templates`` without a word of ``avoid`` (all of them if none is left)."""
    fitting = [t for t in templates if not any(w in template_text(t).lower() for w in avoid)]
    return fitting or list(templates)
