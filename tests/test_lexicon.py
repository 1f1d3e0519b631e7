"""The relation lexicon, the writers' grammar, trigger spans and the degenerate-text checker."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.errors import ConfigError
from kgsynth.evaluation.degenerate import degenerate_reasons
from kgsynth.generation.annotate import build_record, validate
from kgsynth.generation.backends import make_backend
from kgsynth.generation.grammar import note_regex
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.prompt import Prompt, build_prompt, load_settings
from kgsynth.generation.record import Entity, NoteRecord
from kgsynth.graph.schema import RELATION_TYPES, SEMANTIC_GROUPS, SYMMETRIC_TYPES
from tests.test_generation import make_instance

LEXICON = load_lexicon()


def pair_instance(type_: str) -> MotifInstance:
    concepts = [
        InstanceConcept(slot="a", id="MESH:D000001", name="Drug A", group="Chemical", synonyms=["agent a"]),
        InstanceConcept(slot="b", id="MESH:D000002", name="Disease B", group="Disease", synonyms=["B syndrome"]),
    ]
    return MotifInstance(motif="single_edge", concepts=concepts,
                         relations=[InstanceRelation(subject=concepts[0].id, type=type_, object=concepts[1].id,
                                                     evidence=["12345"], novelty="Novel")])


# --- the lexicon file -------------------------------------------------------------------------------------


def test_every_relation_type_has_eight_phrasings_in_both_voices() -> None:
    assert set(LEXICON.types) == set(RELATION_TYPES)
    for type_ in RELATION_TYPES:
        phrasings = LEXICON.phrasings(type_)
        assert len(phrasings) >= 8, type_
        if type_ not in SYMMETRIC_TYPES:  # directed: active (subject first) and passive/reversed (object first)
            assert {p.first for p in phrasings} == {"subject", "object"}, type_


def test_no_phrase_states_two_relation_types() -> None:
    seen: dict[str, str] = {}
    pairs = [(a, b) for a in SEMANTIC_GROUPS for b in SEMANTIC_GROUPS]
    for type_ in LEXICON.types:
        for p in {p for groups in pairs for p in LEXICON.allowed(type_, groups)}:  # grouped phrasings too
            assert seen.setdefault(p.phrase, type_) == type_, f"{p.phrase!r} is in {seen[p.phrase]} and {type_}"


def test_grouped_phrasings_are_written_and_read_only_between_their_groups() -> None:
    """ "attenuated" states a Negative_Correlation from a drug to a disease, never from a disease to a drug."""
    drug_disease = pair_instance("NEGATIVE_CORRELATION")  # subject Drug A (Chemical), object Disease B
    allowed = LEXICON.for_fact(drug_disease, drug_disease.relations[0])
    attenuated = [p for p in allowed if p.phrase == "attenuated"]
    assert [p.first for p in attenuated] == ["subject"]  # symmetric type, yet only the drug goes first
    assert "attenuated" not in {p.phrase for p in LEXICON.phrasings("NEGATIVE_CORRELATION")}  # not for any pair
    gene_gene = {p.phrase for p in LEXICON.allowed("NEGATIVE_CORRELATION", ("Gene", "Gene"))}
    assert "attenuated" not in gene_gene and "was inversely correlated with" in gene_gene
    # A level phrase fits a gene product, not any chemical ("Alcohol was elevated in thiamine deficiency").
    chemical = {p.phrase for t in ("POSITIVE_CORRELATION", "NEGATIVE_CORRELATION")
                for p in LEXICON.allowed(t, ("Chemical", "Disease")) if p.first == "subject"}
    assert not chemical & {"was elevated in", "was reduced in"} and "precipitated" in chemical
    rx = re.compile(note_regex(drug_disease, LEXICON))
    assert rx.fullmatch("Today [[Drug A|C1]] attenuated [[Disease B|C2]].")
    assert not rx.fullmatch("Today [[Disease B|C2]] attenuated [[Drug A|C1]].")
    assert rx.fullmatch("Today [[Disease B|C2]] was attenuated by [[Drug A|C1]].")
    # The statement finder reads the phrase only between mentions of its groups.
    right = build_record("Today [[Drug A|C1]] attenuated [[Disease B|C2]].", drug_disease, LEXICON)
    wrong = build_record("Today [[Disease B|C2]] attenuated [[Drug A|C1]].", drug_disease, LEXICON)
    assert [r.type for r in right.relations] == ["NEGATIVE_CORRELATION"] and wrong.relations == []


def test_quantity_phrases_are_not_said_of_a_variant() -> None:
    """ "rose together with" says two quantities move together: not written, nor read, with a variant."""
    from tests.test_abstract_notes import _fact

    variant = _fact("V1", "POSITIVE_CORRELATION", "D1")
    phrases = {p.phrase for p in LEXICON.for_fact(variant, variant.relations[0])}
    assert "rose together with" not in phrases and "increased the risk of" in phrases
    assert "was positively associated with" in phrases
    gene = _fact("G1", "POSITIVE_CORRELATION", "D1")
    assert "rose together with" in {p.phrase for p in LEXICON.for_fact(gene, gene.relations[0])}
    negative = _fact("V1", "NEGATIVE_CORRELATION", "G1")
    assert "varied inversely with" not in {p.phrase for p in LEXICON.for_fact(negative, negative.relations[0])}
    read = build_record("Today [[name v1|C1]] rose together with [[name d1|C2]].", variant, LEXICON)
    assert read.relations == []  # the statement finder does not read it either
    said = build_record("Today [[name v1|C1]] increased the risk of [[name d1|C2]].", variant, LEXICON)
    assert [r.type for r in said.relations] == ["POSITIVE_CORRELATION"]


@pytest.mark.parametrize(("item", "message"), [
    ('{text: "{subject} blocked {object}", groups: [[Chemical, Organ]]}', "groups must be a list of"),
    ('{text: "{subject} blocked {object}", groups: [Chemical, Gene]}', "groups must be a list of"),
    ('{text: "{subject} blocked {object}"}', "the keys text and groups, or text and not_for"),
    ('{text: "{subject} blocked {object}", not_for: [Organ]}', "not_for must be a list of semantic groups"),
    ('{text: "{subject} blocked {object}", not_for: [Gene], groups: [[Chemical, Gene]]}', "the keys text and"),
    ('{text: "{subject} blocked", groups: [[Chemical, Gene]]}', "must start with one of"),
])
def test_bad_grouped_phrasing_is_refused_with_file_and_line(tmp_path: Path, item: str, message: str) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(f'BINDS:\n  - "{{subject}} docks on {{object}}"\n  - {item}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=f"extra.yaml:3: .*{message}"):
        load_lexicon(path)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('TREATS:\n  - "{subject} treats {object}"\nHEALS:\n  - "{subject} heals {object}"\n',
         r"extra.yaml:3: unknown relation type 'HEALS'"),
        ('TREATS:\n  - "{subject} treats {object}"\n  - "{subject} treats the patient"\n',
         r"extra.yaml:3: .* must start with one of \{subject\}/\{object\} and end with the other"),
        ('CAUSES:\n  - "{subject} [[caused]] {object}"\n', r"extra.yaml:2: .* contains a tag character"),
        ('CAUSES:\n  - "{subject} caused|led to {object}"\n', r"extra.yaml:2: .* contains a tag character"),
        ('CAUSES:\n  - "{object} caused {object}"\n', r"extra.yaml:2: .*must start with one of"),
        ('CAUSES:\n  - "{subject} Caused {object}"\n', r"extra.yaml:2: phrase 'Caused' must be lower-case"),
        ("CAUSES: [unclosed\n", r"extra.yaml:\d+: not valid YAML"),
    ],
)
def test_bad_lexicon_file_is_refused_with_file_and_line(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text(body, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_lexicon(path)


def test_user_lexicon_extends_the_constraint_and_the_check(tmp_path: Path) -> None:
    path = tmp_path / "extra.yaml"
    path.write_text('TREATS:\n  - "{subject} brought relief from {object}"\n', encoding="utf-8")
    extended = load_lexicon(path)
    assert len(extended.phrasings("TREATS")) == len(LEXICON.phrasings("TREATS")) + 1
    instance = make_instance()
    line = ("[[Metformin|C1]] brought relief from [[T2DM|C2]] quickly.\n"
            "[[T2DM|C2]] presented with [[Polydipsia|C3]] today.")
    assert re.fullmatch(note_regex(instance, extended), line) and not re.fullmatch(note_regex(instance, LEXICON), line)
    record = build_record(line, instance, extended)
    assert validate(record) == [] and record.relations[0].trigger.text == "brought relief from"


# --- the grammar ------------------------------------------------------------------------------------------


GOOD = [
    "On admission, [[Metformin|C1]] was started for [[T2DM|C2]].\n[[T2DM|C2]] presented with [[Polydipsia|C3]] today.",
    "[[Metformin|C1]] was started for [[T2DM|C2]], with HbA1c of 7.2% on review.\n"
    "The 64-year-old patient's [[type 2 diabetes|C2]] manifested as [[excessive thirst|C3]].",
    "[[T2DM|C2]] was managed with [[metformin hydrochloride|C1]] at home.\n"
    "Notably, [[Polydipsia|C3]] is a symptom of [[T2DM|C2]].",
    "She was seen in clinic, and [[Metformin|C1]] was started for [[T2DM|C2]].\n"
    "The HbA1c and mRNA panel showed [[Polydipsia|C3]] is a symptom of [[T2DM|C2]] on CT.",
]
BAD = {
    "no relation phrase": "Today [[Metformin|C1]] and [[T2DM|C2]] noted.\n"
                          "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "directed type in the wrong order": "Today [[T2DM|C2]] was started for [[Metformin|C1]].\n"
                                        "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "only mentions and phrase": "[[Metformin|C1]] was started for [[T2DM|C2]].\n"
                                "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "list numbering": "1. [[Metformin|C1]] was started for [[T2DM|C2]] today.\n"
                      "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "url": "See https://x.org [[Metformin|C1]] was started for [[T2DM|C2]] today.\n"
           "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "brackets": "Plan (see) [[Metformin|C1]] was started for [[T2DM|C2]] today.\n"
                "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "hyphen-joined mention": "A pasti-[[Metformin|C1]] was started for [[T2DM|C2]] today.\n"
                             "[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
    "second fact missing": "Today [[Metformin|C1]] was started for [[T2DM|C2]].",
    # No long run of capitals (SmolLM2-135M wrote "AUGUSTUS, MOUNTAIN COUNTRY; CHICAGO").
    "run of capitals": "The CHICAGO team noted [[Metformin|C1]] was started for [[T2DM|C2]].\n"
                       "[[T2DM|C2]] presented with [[Polydipsia|C3]] today.",
    "too many words": "One two three four five six seven eight nine ten eleven [[Metformin|C1]] was started for "
                      "[[T2DM|C2]].\n[[T2DM|C2]] presented with [[Polydipsia|C3]] ok.",
}


def test_note_regex_admits_clean_fact_lines_only() -> None:
    rx = re.compile(note_regex(make_instance(), LEXICON, max_words=10))
    for good in GOOD:
        assert rx.fullmatch(good), good
    for why, bad in BAD.items():
        assert not rx.fullmatch(bad), why


def test_symmetric_types_may_name_either_concept_first() -> None:
    instance = pair_instance("COTREATMENT")
    rx = re.compile(note_regex(instance, LEXICON))
    assert rx.fullmatch("Today [[Drug A|C1]] was combined with [[Disease B|C2]].")
    assert rx.fullmatch("Today [[Disease B|C2]] was combined with [[Drug A|C1]].")
    directed = re.compile(note_regex(pair_instance("CAUSES"), LEXICON))
    assert directed.fullmatch("Today [[Drug A|C1]] induced [[Disease B|C2]].")
    assert not directed.fullmatch("Today [[Disease B|C2]] induced [[Drug A|C1]].")
    assert directed.fullmatch("Today [[Disease B|C2]] was induced by [[Drug A|C1]].")


def test_conversion_names_no_direction() -> None:
    """BioRED's Conversion does not say which chemical becomes which: either may come first, no "derived from"."""
    assert "CONVERSION" in SYMMETRIC_TYPES
    rx = re.compile(note_regex(pair_instance("CONVERSION"), LEXICON))
    assert rx.fullmatch("Today [[Drug A|C1]] is linked by metabolic conversion to [[Disease B|C2]].")
    assert rx.fullmatch("Today [[Disease B|C2]] is linked by metabolic conversion to [[Drug A|C1]].")
    directional = ("converted to", "derived from", "metabolite of", "metabolized", "formed from", "produced from")
    assert not [p.phrase for p in LEXICON.phrasings("CONVERSION") if any(d in p.phrase for d in directional)]


# --- triggers from every writer ---------------------------------------------------------------------------


@pytest.mark.parametrize("type_", RELATION_TYPES)
def test_template_fact_lines_carry_a_trigger_of_the_right_type_and_direction(type_: str) -> None:
    instance = pair_instance(type_)
    backend = make_backend("template")
    rx = re.compile(r"[^\n]*\n" + note_regex(instance, LEXICON))  # the header line, then the constrained note
    for seed in range(12):
        prompt = build_prompt(instance, random.Random(seed), load_settings(), LEXICON)
        tagged = backend.write(instance, prompt, seed).tagged
        assert rx.fullmatch(tagged), tagged  # the baseline obeys the same grammar as the LLM writers
        record = build_record(tagged, instance, LEXICON)
        assert validate(record) == [] and degenerate_reasons(record, LEXICON) == []
        (rel,) = record.relations
        trigger = rel.trigger
        assert trigger is not None and record.text[trigger.start : trigger.end] == trigger.text
        phrasing = next(p for p in LEXICON.for_fact(instance, instance.relations[0]) if p.phrase == trigger.text)
        subject, object_ = record.entity(rel.subject), record.entity(rel.object)
        assert (subject.concept_id, object_.concept_id) == ("MESH:D000001", "MESH:D000002")
        first, second = sorted((subject, object_), key=lambda e: e.start)
        assert first.end + 1 == trigger.start and trigger.end + 1 == second.start  # the phrase stands between
        if type_ not in SYMMETRIC_TYPES:
            assert (first is subject) == (phrasing.first == "subject")
        assert (rel.novelty, rel.evidence) == ("Novel", ["12345"])


def test_prompt_shows_each_fact_tagged_with_its_phrase_and_no_numbering() -> None:
    instance = make_instance()
    prompt: Prompt = build_prompt(instance, random.Random(3), load_settings(), LEXICON)
    for line in prompt.text.splitlines():
        assert not re.match(r"\s*\d+[.)]", line)
    assert "- Metformin treats Type 2 diabetes mellitus." in prompt.text
    examples = [line for line in prompt.text.splitlines() if line.startswith("[[") or "]] " in line[:40]]
    assert len([x for x in examples if "|C1]]" in x or "|C2]]" in x]) >= 2
    assert prompt.header.endswith("patient.") and prompt.header.split(":")[0].lower() == prompt.note_type


# --- the degenerate-text checker --------------------------------------------------------------------------


def note(text: str, mentions: list[tuple[str, str]]) -> NoteRecord:
    """A record whose entities are the first occurrences (left to right) of each (surface, concept id)."""
    entities, pos = [], 0
    for surface, cid in mentions:
        start = text.index(surface, pos)
        entities.append(Entity(id=f"T{len(entities) + 1}", start=start, end=start + len(surface), text=surface,
                               type="Chemical", concept_id=cid))
        pos = start + len(surface)
    return NoteRecord(text=text, entities=entities)


M, D = ("Metformin", "MESH:D008687"), ("T2DM", "MESH:D003924")


@pytest.mark.parametrize(
    ("text", "mentions", "reasons"),
    [
        ("Progress note: 64-year-old female patient.\nOn admission, Metformin was started for T2DM.", [M, D], []),
        ("Metformin was started for T2DM, see (HbA1c 7.2%) today.", [M, D], []),
        ("Metformin was started for T2DM per https://huff.gutenberg.org today.", [M, D], ["url"]),
        ("Metformin was started for T2DM per huff.gutenberg.org today.", [M, D], ["url"]),
        ("Metformin [[was]] started for T2DM today.", [M, D], ["markup"]),
        ("Metformin was started for T2DM <b>today</b>.", [M, D], ["markup"]),
        ("1. Metformin was started for T2DM today.", [M, D], ["list_numbering"]),
        ("- Metformin was started for T2DM today.", [M, D], ["list_numbering"]),
        ("c. 1093-1G>T was started for T2DM today.", [("c. 1093-1G>T", "X:V1"), D], []),  # a KG name opens it
        ("A pasti-Metformin was started for T2DM today.", [M, D], ["joined_mention"]),
        ("A sugMetformin was started for T2DM today.", [M, D], ["joined_mention"]),
        ("Metformin was started for T2DM/x today.", [M, D], ["joined_mention"]),
        ("Metformin was started for T2DM, T2DM and T2DM.", [M, D, D, D], ["repeated_mention"]),
        ("Metformin was started for T2DM.", [M, D], ["bare_line"]),
        ("Metformin, T2DM.", [M, D], ["bare_line"]),
        ("1. Levodop(https://x.com) Metformin was started for T2DM.", [M, D], ["url", "list_numbering"]),
        ("I'm glad to report that your Metformin was started for T2DM.", [M, D], ["chat_talk"]),
        ("Please provide more details: Metformin was started for T2DM.", [M, D], ["chat_talk"]),
        ("Metformin was started for T2DM, I hope this helps.", [M, D], ["chat_talk"]),
        ("In phase I, Metformin was started for T2DM and type I interferon.", [M, D], []),  # a Roman numeral
    ],
)
def test_degenerate_checker(text: str, mentions: list[tuple[str, str]], reasons: list[str]) -> None:
    assert degenerate_reasons(note(text, mentions), LEXICON) == reasons
