"""MedSyn-style prompts from one motif instance: demographics, note type, facts, exemplar.

All wording lives in files under ``kgsynth/generation/prompts`` (jinja2 templates and
YAML), so prompts can be changed without touching code. Every random choice is drawn
from a ``random.Random`` seeded per note, so the same job gives the same prompt.
"""

from __future__ import annotations

import random
from functools import cache
from importlib import resources
from pathlib import Path

import jinja2
import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from kgsynth.cypher.instance import MotifInstance
from kgsynth.errors import ConfigError, validation_detail
from kgsynth.generation.grammar import line_order
from kgsynth.generation.lexicon import Lexicon, about_one_patient, load_lexicon
from kgsynth.generation.tags import slot_label, surfaces, tag
from kgsynth.inputs import load_yaml, yaml_location

PROMPTS = "kgsynth.generation.prompts"


class AgeDistribution(BaseModel):
    """Truncated normal age distribution (years)."""

    min: int = 18
    max: int = 90
    mean: float = 58
    sd: float = 16


class PromptSettings(BaseModel):
    """The configurable distributions a prompt is sampled from."""

    age: AgeDistribution = Field(default_factory=AgeDistribution)
    sex: dict[str, float] = Field(default_factory=lambda: {"female": 0.5, "male": 0.5})
    note_types: dict[str, float] = Field(default_factory=lambda: {"discharge summary": 1.0})
    #: Note types of multi-fact ``abstract`` notes (``generate --note-style abstract``): the kinds of
    #: abstract that style writes (``abstract.yaml``'s ``note_types``), in research register; chart
    #: notes (discharge summaries, consult notes) are the ``fact`` style's ``note_types``.
    abstract_note_types: dict[str, float] = Field(default_factory=lambda: {
        "research abstract": 0.7, "case report abstract": 0.3})
    exemplar_probability: float = Field(0.5, ge=0, le=1)
    #: Share of single-concept (mention) notes that name their concept by a written form of one of
    #: its names ("liver tumors", "hypertensive"; :mod:`kgsynth.generation.written_forms`) instead of
    #: a KB name as listed: real text rarely uses the vocabulary's own spelling.
    written_form_rate: float = Field(0.5, ge=0, le=1)


    @field_validator("abstract_note_types")
    @classmethod
    def _abstracts_only(cls, value: dict[str, float]) -> dict[str, float]:
        written = read_yaml("abstract.yaml")["note_types"]
        other = sorted(set(value) - set(written))
        if other:  # "Discharge summary: ..." over "Previous work has focused on ..." is no discharge summary
            raise ValueError(f"the abstract note style writes {' and '.join(written)} (research register), not "
                             f"{', '.join(other)}: give chart note types to `note_types` (--note-style fact)")
        if not value:
            raise ValueError("give at least one note type")
        return value


class Prompt(BaseModel):
    """A rendered prompt and the choices it was built from."""

    text: str
    note_type: str
    demographics: dict[str, str | int]
    facts: list[str]
    #: The note's first line, written by the engine, not the model ("Progress note: 64-year-old female patient.").
    #: Writers continue after it, so a chat model starts inside the note instead of talking about it.
    header: str = ""


def read_text(name: str) -> str:
    return resources.files(PROMPTS).joinpath(name).read_text(encoding="utf-8")


@cache
def read_yaml(name: str) -> dict:
    return yaml.safe_load(read_text(name))


def load_settings(path: Path | None = None) -> PromptSettings:
    """The packaged defaults, or a YAML/JSON file of :class:`PromptSettings`."""
    if path is None:
        return PromptSettings.model_validate(read_yaml("settings.yaml"))
    data = load_yaml(path, ConfigError)
    try:
        return PromptSettings.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{yaml_location(path, exc.errors()[0]['loc'])}: not a valid prompt settings file: "
                          f"{validation_detail(exc, 'top level')}") from None


@cache
def _template(name: str) -> jinja2.Template:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=False,
                             undefined=jinja2.StrictUndefined)
    return env.from_string(read_text(name))


def render(name: str, **values: object) -> str:
    return _template(name).render(**values).strip()


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    names = list(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0]


def with_article(age: int | str) -> str:
    """``age`` after its indefinite article, as it is said: "a 64", "an 87", "an 18", "an 11"."""
    digits = str(age)
    spoken_vowel = digits.startswith("8") or (digits[:2] in ("11", "18") and len(digits) in (2, 5))
    return f"{'an' if spoken_vowel else 'a'} {digits}"


def sample_demographics(rng: random.Random, settings: PromptSettings) -> dict[str, str | int]:
    age = settings.age
    value = round(rng.gauss(age.mean, age.sd))
    return {"age": min(age.max, max(age.min, value)), "sex": _weighted(rng, settings.sex)}


def exemplar(note_type: str) -> str | None:
    """The style exemplar shipped for ``note_type`` (None when there is none)."""
    name = note_type.lower().replace(" ", "_") + ".txt"
    folder = resources.files(PROMPTS).joinpath("exemplars")
    file = folder.joinpath(name)
    return file.read_text(encoding="utf-8").strip() if file.is_file() else None


def fact_sentence(instance: MotifInstance, index: int, lexicon: Lexicon | None = None,
                  note_type: str | None = None) -> str:
    """Relation ``index`` of the instance in plain words, with preferred names (the lexicon's first phrasing
    that a note of ``note_type`` can state)."""
    rel = instance.relations[index]
    subject, obj = instance.concept(rel.subject), instance.concept(rel.object)
    return (lexicon or load_lexicon()).plain(rel.type, subject.name if subject else rel.subject,
                                             obj.name if obj else rel.object, note_type)


def fitting_note_types(weights: dict[str, float], groups: set[str],
                       types: set[str] | frozenset[str] = frozenset(),
                       fallback: dict[str, float] | None = None) -> dict[str, float]:
    """The note types of ``weights`` that fit a note about ``groups`` stating facts of ``types``
    (``prompts/note_fit.yaml``).

    A note type the file does not name fits anything. If none fits, those of ``fallback`` that fit
    (a gene-gene binding fits no chart note, but a research abstract); if none of these either, all
    of ``weights`` are kept.
    """
    fit = _fitting(weights, groups, types)
    if not fit and fallback:
        fit = _fitting(fallback, groups, types)
    return fit or dict(weights)


def _fitting(weights: dict[str, float], groups: set[str], types: set[str] | frozenset[str]) -> dict[str, float]:
    rules = read_yaml("note_fit.yaml")
    fit = {}
    for name, weight in weights.items():
        rule = rules.get(name) or {}
        if groups & set(rule.get("excludes", [])) or types & set(rule.get("excludes_types", [])):
            continue
        if rule.get("requires_any") and not groups & set(rule["requires_any"]):
            continue
        fit[name] = weight
    return fit


def tagged_example(instance: MotifInstance, index: int, rng: random.Random, lexicon: Lexicon,
                   note_type: str | None = None) -> str:
    """Fact ``index`` as the constraint wants it: two tagged mentions around one of its phrases."""
    rel = instance.relations[index]
    slots = {c.id: i for i, c in enumerate(instance.concepts)}
    phrasing = rng.choice(lexicon.for_fact(instance, rel, note_type))
    return phrasing.sentence(tag(surfaces(instance.concepts[slots[rel.subject]])[0], slots[rel.subject]),
                             tag(surfaces(instance.concepts[slots[rel.object]])[0], slots[rel.object]))


def build_prompt(instance: MotifInstance, rng: random.Random, settings: PromptSettings,
                 lexicon: Lexicon | None = None) -> Prompt:
    """Sample demographics, note type (one that fits the groups) and exemplar, and render ``note.j2``."""
    from kgsynth.generation.compose import ABSTRACT_MOTIF

    lexicon = lexicon or load_lexicon()
    weights = settings.abstract_note_types if instance.motif == ABSTRACT_MOTIF else settings.note_types
    in_facts = {cid for r in instance.relations for cid in (r.subject, r.object)}
    groups = {c.group for c in instance.concepts if c.id in in_facts}  # distractors do not pick the note type
    types = {r.type for r in instance.relations}
    # A chart note for a fact no chart note fits ("IL-2 binds to IL-2Ralpha at the last visit." in a
    # progress note: 1,181 of 3,000 fact-style notes from BioRED train) is a research abstract instead.
    fallback = None if instance.motif == ABSTRACT_MOTIF or instance.single_concept else settings.abstract_note_types
    note_type = _weighted(rng, fitting_note_types(weights, groups, types, fallback))
    demographics = sample_demographics(rng, settings)
    example = exemplar(note_type) if rng.random() < settings.exemplar_probability else None
    if instance.single_concept:  # coverage sampling's one-concept instances: their own prompt
        from kgsynth.generation.mention import mention_prompt

        return mention_prompt(instance, note_type, demographics, example)
    facts = [fact_sentence(instance, i, lexicon, note_type) for i in range(len(instance.relations))]
    cores = [tagged_example(instance, i, rng, lexicon, note_type) for i in range(len(instance.relations))]
    concepts = [
        {"label": slot_label(i), "group": c.group, "surfaces": surfaces(c)} for i, c in enumerate(instance.concepts)
    ]
    text = render(
        "note.j2",
        note_type=note_type,
        one_patient=about_one_patient(note_type),
        age=demographics["age"],
        a_age=with_article(demographics["age"]),
        sex=demographics["sex"],
        exemplar=example,
        facts=[{"plain": f, "core": c} for f, c in zip(facts, cores, strict=True)],
        concepts=concepts,
        others=[tag(surfaces(instance.concepts[i])[0], i) for kind, i in line_order(instance) if kind == "mention"],
    )
    return Prompt(text=text, note_type=note_type, demographics=demographics, facts=facts,
                  header=note_header(note_type, demographics))


def note_header(note_type: str, demographics: dict[str, str | int]) -> str:
    """The note's first line: the patient's age and sex for a note about one patient, the type alone
    for a study ("Research abstract.", not "Research abstract: 57-year-old female patient.")."""
    if not about_one_patient(note_type):
        return f"{note_type.capitalize()}."
    return f"{note_type.capitalize()}: {demographics['age']}-year-old {demographics['sex']} patient."
