"""The relation lexicon: how each relation type is stated, and finding those statements in text.

One data file (``prompts/lexicon.yaml``, extendable with ``--lexicon FILE``) serves the prompt's
fact list, the writers' constraints, the template backend, the synthetic notes and the
deterministic test of ``kgsynth check``, so that what a writer is forced to say and what the
checker accepts as said can never drift apart. A phrasing is ``{subject} PHRASE {object}`` or
``{object} PHRASE {subject}``; the phrase between the two mentions is the trigger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

from kgsynth.cypher.instance import InstanceRelation, MotifInstance
from kgsynth.errors import ConfigError
from kgsynth.generation.agreement import agreeing, plural_phrase
from kgsynth.generation.record import Anaphor, Entity
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS, SYMMETRIC_TYPES
from kgsynth.inputs import read_yaml_text, yaml_error_line

PACKAGED = "lexicon.yaml"
ROLES = ("subject", "object")
#: Characters a phrase may hold: lower-case words joined by spaces, hyphens or apostrophes.
_PHRASE_CHARS = set("abcdefghijklmnopqrstuvwxyz '-")


@dataclass(frozen=True)
class Phrasing:
    """One way to state a relation type: ``first`` is the role named before the phrase.

    ``groups``: the (first-named, second-named) semantic-group pairs the phrase reads right for
    ("attenuated" between a Chemical and a Disease, "inhibited" between a Chemical and a Gene);
    None for a phrase that fits any concepts ("was inversely correlated with"). ``not_for``: groups
    a phrase for any concepts does not fit on either side (a variant does not "rise together with"
    anything: it is not a quantity).
    """

    type: str
    phrase: str
    first: str  # "subject" or "object"
    groups: tuple[tuple[str, str], ...] | None = None
    not_for: tuple[str, ...] = ()

    def fits(self, first_group: str, second_group: str) -> bool:
        """Whether the phrase reads right between a mention of ``first_group`` and one of ``second_group``."""
        if first_group in self.not_for or second_group in self.not_for:
            return False
        return self.groups is None or (first_group, second_group) in self.groups

    @property
    def second(self) -> str:
        return "object" if self.first == "subject" else "subject"

    def sentence(self, subject: str, object_: str) -> str:
        """The phrasing with both slots filled (no final period), its verb agreeing with the first mention."""
        a, b = (subject, object_) if self.first == "subject" else (object_, subject)
        return f"{a} {agreeing(self.phrase, a)} {b}"

    @property
    def forms(self) -> tuple[str, ...]:
        """The phrase for a singular and for a plural first mention (one form when they are the same)."""
        return tuple(dict.fromkeys((self.phrase, plural_phrase(self.phrase))))


@dataclass(frozen=True)
class Statement:
    """A relation the text states: two mentions with a lexicon phrase between them."""

    type: str
    subject: Entity
    object: Entity
    trigger_start: int
    trigger_end: int
    phrase: str


class Lexicon:
    """Phrasings per relation type, and the reverse index the statement finder uses."""

    def __init__(self, phrasings: dict[str, list[Phrasing]]) -> None:
        self._by_type = {t: list(p) for t, p in phrasings.items() if p}
        self._by_phrase: dict[str, list[Phrasing]] = {}
        for items in self._by_type.values():
            for p in items:
                for form in p.forms:  # "was associated with" and "were associated with" are one trigger
                    self._by_phrase.setdefault(form, []).append(p)

    @property
    def types(self) -> list[str]:
        return list(self._by_type)

    def phrasings(self, type_: str) -> list[Phrasing]:
        """The phrasings of ``type_`` that fit any concepts (a type without any falls back to RELATED_TO's)."""
        general = [p for p in self._by_type.get(type_, []) if p.groups is None]
        return general or [p for p in self._by_type.get("RELATED_TO", []) if p.groups is None]

    def allowed(self, type_: str, groups: tuple[str, str] | None = None) -> list[Phrasing]:
        """Every (phrase, order) a sentence stating ``type_`` may use: symmetric types both ways round.

        ``groups`` (the subject's and the object's semantic group) adds the phrasings written for
        those groups, in the orders that put each concept where its group reads right.
        """
        candidates = self.phrasings(type_)
        if groups is not None:
            candidates = candidates + [p for p in self._by_type.get(type_, []) if p.groups is not None]
        out = list(candidates)
        if type_ in SYMMETRIC_TYPES:
            out += [replace(p, first=p.second) for p in candidates]
        if groups is not None:
            role = {"subject": groups[0], "object": groups[1]}
            out = [p for p in out if p.fits(role[p.first], role[p.second])]
        return list(dict.fromkeys(out))

    def for_fact(self, instance: MotifInstance, relation: InstanceRelation,
                 note_type: str | None = None) -> list[Phrasing]:
        """:meth:`allowed` for one fact of ``instance``, with the groups of its two concepts; with
        ``note_type``, only the phrasings a note of that type can state (:func:`for_note`)."""
        group = {c.id: c.group for c in instance.concepts}
        allowed = self.allowed(relation.type, (group.get(relation.subject, ""), group.get(relation.object, "")))
        return for_note(allowed, note_type) if note_type else allowed

    def plain(self, type_: str, subject: str, object_: str, note_type: str | None = None) -> str:
        """The fact in plain words (the type's first phrasing a note of ``note_type`` can state), for prompts."""
        phrasings = for_note(self.phrasings(type_), note_type) if note_type else self.phrasings(type_)
        return phrasings[0].sentence(subject, object_) if phrasings else f"{subject} is related to {object_}"

    def statements(self, text: str, entities: Iterable[Entity], anaphors: Iterable[Anaphor] = ()) -> list[Statement]:
        """Every ``mention PHRASE mention`` on one line of ``text``, for any type (directions as written).

        Two mentions state a relation when the text between them is exactly one space, a
        lexicon phrase (in either number: "was"/"were") and one space; the phrase's order says
        which mention is the subject. An anaphor stands for its antecedent ("This gene was
        associated with X" states a fact of the gene named earlier; the statement's entity is
        the antecedent, placed where the anaphor is).
        """
        entities = list(entities)
        by_id = {e.id: e for e in entities}
        standing_in = [by_id[a.antecedent].model_copy(update={"start": a.start, "end": a.end, "text": a.text})
                       for a in anaphors if a.antecedent in by_id]
        ordered = sorted([*entities, *standing_in], key=lambda e: (e.start, e.end))
        found: list[Statement] = []
        for i, first in enumerate(ordered):
            for second in ordered[i + 1:]:
                if second.start < first.end:
                    continue
                between = text[first.end:second.start]
                if "\n" in between:
                    break
                if len(between) < 3 or between[0] != " " or between[-1] != " ":
                    continue
                phrase = between[1:-1]
                for p in self._by_phrase.get(phrase, []):
                    if not p.fits(first.type, second.type):  # "attenuated" between a Disease and a Chemical
                        continue
                    # a symmetric type's subject is the mention named first; a directed one's as phrased
                    forward = p.first == "subject" or p.type in SYMMETRIC_TYPES
                    subject, object_ = (first, second) if forward else (second, first)
                    found.append(Statement(p.type, subject, object_, first.end + 1, second.start - 1, phrase))
        return found


def _slot(text: str) -> str | None:
    for role in ROLES:
        if text == "{" + role + "}":
            return role
    return None


def parse_phrasing(type_: str, template: str, where: str) -> Phrasing:
    """``{subject} PHRASE {object}`` (or the reverse) as a :class:`Phrasing`; errors name ``where``."""
    if not isinstance(template, str):
        raise ConfigError(f"{where}: a phrasing must be a string like '{{subject}} treats {{object}}'")
    if any(ch in template for ch in "[]|\n"):
        raise ConfigError(f"{where}: {template!r} contains a tag character ([, ], | or a newline)")
    words = template.split(" ")
    first, last = _slot(words[0]), _slot(words[-1]) if len(words) > 2 else None
    if first is None or last is None or first == last:
        raise ConfigError(f"{where}: {template!r} must start with one of {{subject}}/{{object}} and end with the "
                          "other, with the phrase between")
    phrase = " ".join(words[1:-1])
    if "{" in phrase or "}" in phrase:
        raise ConfigError(f"{where}: {template!r} names a slot twice or an unknown slot")
    if not phrase or not set(phrase) <= _PHRASE_CHARS or not phrase[0].isalpha() or not phrase[-1].isalpha():
        raise ConfigError(f"{where}: phrase {phrase!r} must be lower-case words (letters, spaces, hyphens, "
                          "apostrophes)")
    return Phrasing(type_, phrase, first)


def parse_lexicon(text: str, source: str) -> dict[str, list[Phrasing]]:
    """A lexicon file's phrasings; any problem raises :class:`ConfigError` with file and line."""
    try:
        root = yaml.compose(text)
    except yaml.YAMLError as exc:
        number = yaml_error_line(exc, text)
        line = f":{number}" if number is not None else ""
        raise ConfigError(f"{source}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if root is None:
        return {}
    if not isinstance(root, yaml.MappingNode):
        raise ConfigError(f"{source}:{root.start_mark.line + 1}: a lexicon maps relation types to lists of phrasings")
    out: dict[str, list[Phrasing]] = {}
    for key, value in root.value:
        where = f"{source}:{key.start_mark.line + 1}"
        type_ = key.value
        if type_ not in RELATION_TYPES:
            raise ConfigError(f"{where}: unknown relation type {type_!r}; allowed: {', '.join(RELATION_TYPES)}")
        if not isinstance(value, yaml.SequenceNode):
            raise ConfigError(f"{where}: {type_} must have a list of phrasings")
        for item in value.value:
            where = f"{source}:{item.start_mark.line + 1}"
            if isinstance(item, yaml.MappingNode):
                template, groups, not_for = _grouped_item(item, where)
                phrasing = replace(parse_phrasing(type_, template, where), groups=groups, not_for=not_for)
            elif isinstance(item, yaml.ScalarNode):
                phrasing = parse_phrasing(type_, item.value, where)
            else:
                raise ConfigError(f"{where}: a phrasing must be a string, {{text: ..., groups: [[A, B], ...]}} or "
                                  "{text: ..., not_for: [A, ...]}")
            if phrasing not in out.setdefault(type_, []):
                out[type_].append(phrasing)
    return out


def _grouped_item(item: yaml.MappingNode, where: str
                  ) -> tuple[str, tuple[tuple[str, str], ...] | None, tuple[str, ...]]:
    """``{text: "{subject} PHRASE {object}", groups: [[first group, second group], ...]}`` or
    ``{text: ..., not_for: [group, ...]}`` as (text, groups or None, not_for)."""
    data = yaml.safe_load(yaml.serialize(item))
    text = data.get("text")
    if not isinstance(text, str) or set(data) not in ({"text", "groups"}, {"text", "not_for"}):
        raise ConfigError(f"{where}: a phrasing given as a mapping has the keys text and groups, or text and not_for")
    if "not_for" in data:
        excluded = data["not_for"]
        if not isinstance(excluded, list) or not excluded or not all(x in SEMANTIC_GROUPS for x in excluded):
            raise ConfigError(f"{where}: not_for must be a list of semantic groups from {', '.join(SEMANTIC_GROUPS)}")
        return text, None, tuple(excluded)
    groups = data["groups"]
    pairs = groups if isinstance(groups, list) else []
    if not pairs or not all(isinstance(g, list) and len(g) == 2 and all(x in SEMANTIC_GROUPS for x in g)
                            for g in pairs):
        raise ConfigError(f"{where}: groups must be a list of [first, second] semantic-group pairs from "
                          f"{', '.join(SEMANTIC_GROUPS)} (the groups of the mention before and after the phrase)")
    return text, tuple((a, b) for a, b in pairs), ()


@cache
def _one_patient_rule() -> tuple[frozenset[str], tuple[str, ...]]:
    """``abstract.yaml``'s note types about one patient and the phrase words that state a statistic."""
    words = yaml.safe_load(resources.files("kgsynth.generation.prompts").joinpath("abstract.yaml")
                           .read_text(encoding="utf-8"))
    return frozenset(words["one_patient"]), tuple(words["one_patient_statistics"])


def about_one_patient(note_type: str) -> bool:
    """Whether a note of ``note_type`` is about one patient (``abstract.yaml``'s ``one_patient``: case
    reports and chart notes), not about a study of many (a research abstract)."""
    return note_type in _one_patient_rule()[0]


def for_note(phrasings: Iterable[Phrasing], note_type: str) -> list[Phrasing]:
    """``phrasings`` that a note of ``note_type`` can state: a note about one patient (a case report, a
    discharge summary) states no statistic over many ("IUGR was positively correlated with caffeine"),
    unless the fact has no other phrasing. Every writer's constraint and the template use it, so an
    LLM is held to what the template writes."""
    phrasings = list(phrasings)
    if not about_one_patient(note_type):
        return phrasings
    statistics = _one_patient_rule()[1]
    return [p for p in phrasings if not any(w in p.phrase for w in statistics)] or phrasings


@cache
def _packaged() -> dict[str, list[Phrasing]]:
    text = resources.files("kgsynth.generation.prompts").joinpath(PACKAGED).read_text(encoding="utf-8")
    return parse_lexicon(text, f"kgsynth/generation/prompts/{PACKAGED}")


def load_lexicon(extra: Path | None = None) -> Lexicon:
    """The packaged lexicon, plus the phrasings of ``extra`` (a user file in the same layout)."""
    phrasings = {t: list(p) for t, p in _packaged().items()}
    if extra is not None:
        text = read_yaml_text(extra, ConfigError)  # kgsynth.inputs: the one way files are read
        for type_, items in parse_lexicon(text, str(extra)).items():
            for p in items:
                if p not in phrasings.setdefault(type_, []):
                    phrasings[type_].append(p)
    return Lexicon(phrasings)
