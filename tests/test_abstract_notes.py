"""Abstract-style notes: several facts, distractor concepts, unrelated pairs, fitting note types."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.evaluation.check import GraphView, check_note
from kgsynth.generation.backends.template_backend import TemplateBackend
from kgsynth.generation.compose import ABSTRACT_MOTIF, Composer, distractors
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.note_plan import plan_notes
from kgsynth.generation.prompt import fitting_note_types, load_settings, read_yaml
from kgsynth.generation.tags import TagError
from kgsynth.graph.memory import MemoryStore
from kgsynth.graph.model import Concept, Relation

GROUPS = {"G": "Gene", "D": "Disease", "C": "Chemical", "V": "Variant"}


def _concept(cid: str) -> InstanceConcept:
    return InstanceConcept(slot="x", id=cid, name=f"name {cid[2:].lower()}", group=GROUPS[cid[2]])


def _fact(s: str, t: str, o: str) -> MotifInstance:
    s, o = f"X:{s}", f"X:{o}"
    return MotifInstance(motif="single_edge", stratum=t, concepts=[_concept(s), _concept(o)],
                         relations=[InstanceRelation(subject=s, type=t, object=o)])


# A small graph: G1 - D1 - C1 - D2 - G2 - V1 with the triangle G1 - D1 - C1, plus C2 - C3 and C3 - D3.
POOL = [
    _fact("G1", "ASSOCIATED_WITH", "D1"),
    _fact("C1", "BINDS", "G1"),
    _fact("C1", "NEGATIVE_CORRELATION", "D1"),
    _fact("C1", "POSITIVE_CORRELATION", "D2"),
    _fact("G2", "ASSOCIATED_WITH", "D2"),
    _fact("V1", "ASSOCIATED_WITH", "G2"),
    _fact("C2", "COTREATMENT", "C3"),
    _fact("C3", "NEGATIVE_CORRELATION", "D3"),
]


def _related(pool: list[MotifInstance]) -> set[frozenset[str]]:
    return {frozenset((r.subject, r.object)) for i in pool for r in i.relations}


def test_composed_instance_adds_neighbour_facts_and_unrelated_two_hop_distractors() -> None:
    composer = Composer(POOL)
    related = _related(POOL)
    for seed in range(20):
        inst = composer.compose(POOL[0], random.Random(seed))
        assert inst.motif == ABSTRACT_MOTIF and inst.relations[0] == POOL[0].relations[0]
        assert 2 <= len(inst.relations) <= 3
        note_concepts = {c for r in inst.relations for c in (r.subject, r.object)}
        extra = [c.id for c in distractors(inst)]
        assert 1 <= len(extra) <= 4
        for d in extra:  # a distractor is related (in the sample) to no concept of the note
            assert not any(frozenset((d, c)) in related for c in note_concepts)
        stated = {frozenset((r.subject, r.object)) for r in inst.relations}
        assert {p for p in related if p <= note_concepts} == stated  # no related pair left unstated
        assert composer.compose(POOL[0], random.Random(seed)) == inst  # seeded


def test_abstract_notes_state_every_fact_and_contain_unrelated_pairs(tmp_path: Path) -> None:
    out = tmp_path / "notes"
    plan = plan_notes(POOL, 21, max_notes_per_fact=3, seed=4)
    report = generate(POOL, TemplateBackend(), out, 21, seed=4, plan=plan, note_style="abstract", quiet=True)
    assert report.written == 21 and report.rejected == 0
    related = _related(POOL)
    store = MemoryStore()
    store.upsert_concepts(Concept(id=c.id, name=c.name, group=c.group) for i in POOL for c in i.concepts)
    store.upsert_relations(Relation(subject=r.subject, type=r.type, object=r.object) for i in POOL for r in i.relations)
    graph = GraphView(store)
    apart = 0
    for record in read_notes(out):
        inst = record.instance
        lines = record.text.split("\n")
        assert 4 <= len(lines) <= 10
        by_id = {e.id: e for e in record.entities}
        stated = {(by_id[r.subject].concept_id, r.type, by_id[r.object].concept_id) for r in record.relations}
        assert stated == {(r.subject, r.type, r.object) for r in inst.relations}  # every sampled fact
        # Each fact has a line naming both of its concepts, or (stated across two sentences) a line
        # naming one with an anaphor of the other, whose mention is on the line before it.
        def line(offset: int, text: str = record.text) -> int:
            return text.count("\n", 0, offset)

        for r in record.relations:
            s, o = by_id[r.subject], by_id[r.object]
            if line(s.start) == line(o.start):
                continue
            anaphor = next(a for a in record.anaphors if line(a.start) == line(r.trigger.start))
            antecedent, other = (s, o) if anaphor.antecedent == s.id else (o, s)
            assert anaphor.antecedent == antecedent.id and line(other.start) == line(anaphor.start)
            assert line(antecedent.start) == line(anaphor.start) - 1, record.text
            apart += 1
        antecedents = [record.entity(a.antecedent).concept_id for a in record.anaphors]
        assert len(antecedents) == len(set(antecedents)), record.text  # no concept introduced twice
        mentioned = sorted({e.concept_id for e in record.entities})
        assert {c.id for c in distractors(inst)} <= set(mentioned)
        unrelated = [(a, b) for i, a in enumerate(mentioned) for b in mentioned[i + 1 :]
                     if frozenset((a, b)) not in related]
        assert unrelated, record.text
        assert record.note_type in load_settings().abstract_note_types
        verdict = check_note(record, graph)  # the deterministic trigger test on the text
        assert verdict.faithfulness == 1.0 and not verdict.missed
        assert not verdict.absent_from_kg and not verdict.extra_in_kg  # distractor lines state no relation
        assert not verdict.degenerate, (verdict.degenerate, record.text)
    assert apart >= 1  # some facts are stated across sentences (P_APART)


def test_note_types_fit_the_groups() -> None:
    weights = {"radiology report": 1.0, "discharge summary": 1.0, "research abstract": 1.0,
               "genetics consult note": 1.0}
    assert set(fitting_note_types(weights, {"Gene", "Disease"})) == {"research abstract", "genetics consult note"}
    assert "radiology report" in fitting_note_types(weights, {"Disease", "Anatomy"})
    assert "genetics consult note" not in fitting_note_types(weights, {"Disease", "Chemical"})
    assert fitting_note_types({"radiology report": 1.0}, {"Variant"}) == {"radiology report": 1.0}  # none fits
    # None fits: the fallback's fitting types (a chart note's fact no chart fits goes to a research abstract).
    assert fitting_note_types({"radiology report": 1.0}, {"Variant"}, fallback={
        "research abstract": 0.7, "case report abstract": 0.3}) == {"research abstract": 0.7}
    assert fitting_note_types({"radiology report": 1.0}, {"Disease"}, fallback={"research abstract": 1.0}) == {
        "radiology report": 1.0}
    # A binding is shown in the laboratory, not in one patient: no case report states one.
    abstracts = {"research abstract": 0.7, "case report abstract": 0.3}
    assert set(fitting_note_types(abstracts, {"Gene", "Disease"}, {"ASSOCIATED_WITH"})) == set(abstracts)
    assert set(fitting_note_types(abstracts, {"Gene", "Disease"}, {"ASSOCIATED_WITH", "BINDS"})) == {
        "research abstract"}


def test_abstract_notes_are_abstracts_and_chart_types_are_refused(tmp_path: Path) -> None:
    """The abstract style writes research register, so its note types are kinds of abstract: a prompt
    settings file that asks it for discharge summaries is an error naming the file and the key."""
    from kgsynth.errors import ConfigError
    from kgsynth.generation.prompt import read_yaml

    written = set(read_yaml("abstract.yaml")["note_types"])
    assert set(load_settings().abstract_note_types) == written == {"research abstract", "case report abstract"}
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 30, seed=5, plan=plan_notes(POOL, 30, max_notes_per_fact=5, seed=5),
             note_style="abstract", quiet=True)
    records = read_notes(out)
    assert {r.note_type for r in records} == written  # both kinds are written, nothing else
    assert not any(r.text.startswith(("Discharge summary", "Genetics consult")) for r in records)
    config = tmp_path / "prompts.yaml"
    config.write_text("age: {min: 20, max: 80, mean: 50, sd: 10}\nabstract_note_types:\n"
                      "  research abstract: 0.8\n  discharge summary: 0.2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"prompts\.yaml, line 2: .*abstract_note_types.*not discharge summary"):
        load_settings(config)
    config.write_text("abstract_note_types: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least one note type"):
        load_settings(config)


def test_abstract_notes_break_the_shared_sentence_shortcut(tmp_path: Path) -> None:
    """Unrelated concepts share methods sentences, titles state the anchor fact, no chart words."""
    from kgsynth.evaluation.re_probe import pair_shape
    from kgsynth.generation.prompt import read_yaml

    out = tmp_path / "notes"
    plan = plan_notes(POOL, 40, max_notes_per_fact=5, seed=9)
    report = generate(POOL, TemplateBackend(), out, 40, seed=9, plan=plan, note_style="abstract", quiet=True)
    assert report.written == 40 and report.rejected == 0
    records = list(read_notes(out))
    related = _related(POOL)
    chart = read_yaml("context.yaml")
    titled = 0
    notes_with_shared_unrelated = 0
    for record in records:
        lines = record.text.split("\n")
        starts = [sum(len(x) + 1 for x in lines[:i]) for i in range(len(lines))]
        line_of = {e.id: max(i for i, s in enumerate(starts) if s <= e.start) for e in record.entities}
        shared_unrelated = {
            frozenset((a.concept_id, b.concept_id)) for a in record.entities for b in record.entities
            if line_of[a.id] == line_of[b.id] and a.concept_id != b.concept_id
            and frozenset((a.concept_id, b.concept_id)) not in related
        }
        notes_with_shared_unrelated += bool(shared_unrelated)
        assert not any(w in record.text for w in [*chart["tails"], *chart["leads"]]), record.text
        if record.note_type in read_yaml("abstract.yaml")["titled"]:
            in_title = [(record.entity(r.subject).concept_id, r.type, record.entity(r.object).concept_id)
                        for r in record.relations if r.trigger.end < len(lines[0])]
            assert in_title  # the title states the anchor fact: the first fact, unless no title fits it
            first = record.instance.relations[0]
            if first.type != "BINDS":  # every title fits such a fact
                assert (first.subject, first.type, first.object) in in_title, record.text
            if any(t == "BINDS" for _, t, _ in in_title):  # no "in 120 patients" for a binding
                assert "patient" not in lines[0], lines[0]
            titled += 1
    assert titled >= 10 and notes_with_shared_unrelated >= 30
    shape = pair_shape(records)
    assert shape.positive_if_shared is not None and shape.positive_if_shared < 0.6


def test_methods_sentences_fit_the_groups_they_name(tmp_path: Path) -> None:
    """ "Expression of" names genes, "Levels of" genes or chemicals, "The history included" a disease."""
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 60, seed=2, plan=plan_notes(POOL, 60, max_notes_per_fact=10, seed=2),
             note_style="abstract", quiet=True)
    wanted = {"Expression of": {"Gene"}, "Levels of": {"Gene", "Chemical"}, "We measured": {"Gene", "Chemical"},
              "We also measured": {"Gene", "Chemical"}, "Measurements of": {"Gene", "Chemical"},
              "The history included": {"Disease"}}
    seen = set()
    for record in read_notes(out):
        start = 0
        for line in record.text.split("\n"):
            end = start + len(line)
            for opening, allowed in wanted.items():
                if line.startswith(opening):
                    seen.add(opening)
                    named = {e.type for e in record.entities if start <= e.start < end}
                    assert named and named <= allowed, (line, named)
            start = end + 1
    assert len(seen) >= 3, seen  # the check ran on several of these sentences


def test_a_case_report_states_the_age_once(tmp_path: Path) -> None:
    """A title "... in an 87-year-old male patient." is not followed by "An 87-year-old male patient was ..."."""
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 80, seed=4, plan=plan_notes(POOL, 80, max_notes_per_fact=10, seed=4),
             note_style="abstract", quiet=True)
    records = read_notes(out)
    case_reports = [r for r in records if r.note_type == "case report abstract"]
    aged_titles = [r for r in case_reports if "year-old" in r.text.split("\n")[0]]
    assert aged_titles, "no case report with the age in its title in this sample"
    for record in case_reports:
        assert record.text.count("year-old") == 1, record.text


def test_a_note_about_one_patient_describes_no_cohort(tmp_path: Path) -> None:
    """Case reports (about one patient): no "in a cohort of 85 patients", "each patient", "all
    participants", and no lab work ("in vitro", "in human cell lines")."""
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 80, seed=6, plan=plan_notes(POOL, 80, max_notes_per_fact=10, seed=6),
             note_style="abstract", quiet=True)
    records = read_notes(out)
    single = [r for r in records
              if r.note_type in ("case report abstract", "genetics consult note", "discharge summary")]
    research = [r for r in records if r.note_type == "research abstract"]
    assert len(single) >= 5 and research
    cohort = re.compile(r"cohort|patients|each patient|participants|\b\d{2,3} patients|\b(?:mice|rats|animals?)\b"
                        r"|[Ss]tatistical|[Ii]n vitro|cultured cells|cell lines")
    for record in single:
        assert not cohort.search(record.text), record.text
    assert any(cohort.search(r.text) for r in research)  # the research abstracts keep their cohorts
    assert any(re.search(r"in vitro|cultured cells|cell lines", r.text) for r in research)  # and their lab work


def test_a_research_abstract_studies_one_population(tmp_path: Path) -> None:
    """A note "... in rats." never goes on to "in a cohort of 120 patients", nor a patient study to "in mice"."""
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 120, seed=8, plan=plan_notes(POOL, 120, max_notes_per_fact=15, seed=8),
             note_style="abstract", quiet=True)
    research = [r.text for r in read_notes(out) if r.note_type == "research abstract"]
    human = re.compile(r"patient|participants|cohort|informed consent")
    species = {"rats": re.compile(r"\brats?\b"), "mice": re.compile(r"\b(?:mice|mouse)\b")}
    animal = [t for t in research if any(p.search(t) for p in species.values())]
    assert animal and len(animal) < len(research)  # both kinds of study are written
    clinical = re.compile(r"work-up|follow-up|history|diagnosis|adjusted for age")  # no clinic in a rat study
    for text in animal:
        assert not human.search(text), text
        assert not clinical.search(text), text
        assert sum(bool(p.search(text)) for p in species.values()) == 1, text
    assert any(human.search(t) for t in research if t not in animal)
    for text in research:
        if human.search(text):  # a patient study examines no animal ("In every animal, we also examined ...")
            assert not re.search(r"\banimals?\b", text), text


def test_context_words_fit_the_fact(tmp_path: Path) -> None:
    """A fact sentence ends "in a dose-dependent manner" / "at higher doses" only if the fact names a chemical,
    says "in vitro" only if it names no disease, and "Follow-up lasted N weeks" is not the cohort's N."""
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 150, seed=9, plan=plan_notes(POOL, 150, max_notes_per_fact=20, seed=9),
             note_style="abstract", quiet=True)
    drug_tail = re.compile(r"(?:dose-dependent manner|at higher doses|after treatment|in treated patients)\.$")
    in_vitro = re.compile(r"[Ii]n vitro|cultured cells|cell lines")
    with_drug = without_drug = with_disease = 0
    for record in read_notes(out):
        types = {e.id: e.type for e in record.entities}
        for relation in record.relations:
            assert relation.trigger is not None
            line_start = record.text.rfind("\n", 0, relation.trigger.start) + 1
            line_end = record.text.find("\n", relation.trigger.end)
            line = record.text[line_start: None if line_end < 0 else line_end]
            groups = {types[relation.subject], types[relation.object]}
            if drug_tail.search(line):
                assert "Chemical" in groups, line
                with_drug += 1
            without_drug += "Chemical" not in groups
            if "Disease" in groups:  # a disease is not studied in vitro (title, lead or tail)
                assert not in_vitro.search(line), line
                with_disease += 1
        follow_up = re.search(r"Follow-up lasted (\d+) weeks", record.text)
        if follow_up:  # the follow-up is not the cohort's number
            assert not re.search(rf"\b{follow_up.group(1)} (?:patients|participants)", record.text), record.text
    assert with_drug > 5 and without_drug > 20 and with_disease > 20  # every kind of fact is in the sample


def test_pick_names_the_concepts_when_every_fitting_template_has_an_avoided_word() -> None:
    """A rat study's two diseases: every sentence for two diseases has a clinical or human word ("work-up",
    "patients"); one that fits the groups is still written (this raised IndexError), and one without an
    avoided word is preferred where there is one."""
    from kgsynth.generation.backends.template_abstract import pick

    templates = ["The work-up covered {a} and {b}.", {"text": "Levels of {a} and {b}.", "groups": ["Gene"]}]
    assert pick(templates, random.Random(0), {"Disease"}, avoid=("work-up",)) == templates[0]
    both = ["The work-up covered {a} and {b}.", "We assessed {a} and {b} in all animals."]
    assert {pick(both, random.Random(s), {"Disease"}, avoid=("work-up",)) for s in range(20)} == {both[1]}


def test_pick_prefers_a_template_the_note_has_not_used() -> None:
    from kgsynth.generation.backends.template_abstract import pick

    templates = ["A {a}.", "B {a}.", {"text": "C {a}.", "groups": ["Gene"]}]
    used: set[str] = set()
    rng = random.Random(0)
    picked = [pick(templates, rng, {"Disease"}, used=used) for _ in range(3)]
    assert sorted(picked[:2]) == ["A {a}.", "B {a}."]  # both group-free ones before any repeat
    assert picked[2] in ("A {a}.", "B {a}.") and used == {"A {a}.", "B {a}."}  # "C" never names a disease
    assert pick(["x in mice", "y in vitro"], rng, set(), avoid=("mice",)) == "y in vitro"


def test_clinical_context_words_describe_one_patient() -> None:
    """The one-fact notes' leads and tails (context.yaml) have no study words: each note is about one patient."""
    from kgsynth.generation.prompt import read_yaml

    study = read_yaml("abstract.yaml")["study_words"]
    context = read_yaml("context.yaml")
    words = [w for key in ("leads", "tails") for w in context[key]]
    assert len(words) >= 20
    assert [w for w in words if any(s in w.lower() for s in study)] == []


def test_a_note_introduces_a_concept_for_an_anaphor_once(tmp_path: Path, monkeypatch) -> None:
    """With every fact stated apart, a concept in several facts is still introduced ("We also looked at X.") once."""
    from kgsynth.generation.backends import template_abstract

    monkeypatch.setattr(template_abstract, "P_APART", 1.0)
    out = tmp_path / "notes"
    plan = plan_notes(POOL, 40, max_notes_per_fact=5, seed=3)
    generate(POOL, TemplateBackend(), out, 40, seed=3, plan=plan, note_style="abstract", quiet=True)
    records = list(read_notes(out))
    with_anaphors = [r for r in records if len(r.anaphors) >= 2]
    assert with_anaphors
    for record in records:
        antecedents = [record.entity(a.antecedent).concept_id for a in record.anaphors]
        assert len(antecedents) == len(set(antecedents)), record.text


def test_llm_writers_name_each_distractor_in_a_line_of_its_own() -> None:
    """The openai schema and the transformers regex give an abstract note's distractors one line each, after
    the first fact: named and grounded, in no relation, so the LLM's notes have unrelated pairs too."""
    import json

    from kgsynth.generation.annotate import build_record
    from kgsynth.generation.backends.openai_backend import note_schema, tagged_from_json
    from kgsynth.generation.grammar import max_note_chars, note_regex
    from kgsynth.generation.lexicon import load_lexicon

    lexicon = load_lexicon()
    instance = next(i for i in (Composer(POOL).compose(p, random.Random(s)) for s in range(20) for p in POOL)
                    if len(i.relations) >= 2 and distractors(i))
    slot = {c.id: f"C{k + 1}" for k, c in enumerate(instance.concepts)}
    extra = distractors(instance)
    schema = note_schema(instance, lexicon, max_words=6)
    keys = list(schema["properties"])
    assert keys == ["fact_1", *[f"mention_{slot[c.id]}" for c in extra],
                    *[f"fact_{k}" for k in range(2, len(instance.relations) + 1)]]
    assert schema["required"] == keys

    def fact(r: InstanceRelation) -> dict:
        phrase = lexicon.for_fact(instance, r)[0]
        first, second = (r.subject, r.object) if phrase.first == "subject" else (r.object, r.subject)
        name = {c.id: c.name for c in instance.concepts}
        return {"before": "We found that", "first": {"concept": slot[first], "name": name[first]},
                "phrase": phrase.phrase, "second": {"concept": slot[second], "name": name[second]},
                "after": "in this cohort"}

    answer = {f"fact_{k + 1}": fact(r) for k, r in enumerate(instance.relations)}
    answer |= {f"mention_{slot[c.id]}": {"before": "We also measured", "concept": {"concept": slot[c.id],
                                                                                    "name": c.name},
                                         "after": "at baseline"} for c in extra}
    tagged = tagged_from_json(json.dumps(answer), instance)
    assert re.fullmatch(note_regex(instance, lexicon, 6), tagged)  # the transformers writer's grammar admits it
    assert len(tagged) <= max_note_chars(instance, lexicon, 6)
    record = build_record(tagged, instance, lexicon)
    lines = record.text.split("\n")
    assert lines[1] == f"We also measured {extra[0].name} at baseline."
    assert {e.concept_id for e in record.entities} == {c.id for c in instance.concepts}  # every distractor named
    assert len(record.relations) == len(instance.relations)  # and none of them related
    store = MemoryStore()
    store.upsert_concepts(Concept(id=c.id, name=c.name, group=c.group) for i in POOL for c in i.concepts)
    store.upsert_relations(Relation(subject=r.subject, type=r.type, object=r.object) for i in POOL for r in i.relations)
    verdict = check_note(record, GraphView(store))
    assert verdict.faithfulness == 1.0 and not verdict.absent_from_kg and not verdict.extra_in_kg
    wrong = answer | {f"mention_{slot[extra[0].id]}": {"before": "", "concept": {"concept": "C1", "name": "x"},
                                                        "after": "here"}}
    with pytest.raises(TagError):
        tagged_from_json(json.dumps(wrong), instance)


def test_json_prompts_state_the_word_limit_of_the_free_runs() -> None:
    """A writer that is not told the limit runs into it mid-phrase and glues words ("diagnosedwith" as the 10th)."""
    from kgsynth.generation.prompt import render

    assert "at most 7 words" in render("json_note.j2", facts=2, mentions=1, max_words=7)
    assert "mention_" in render("json_note.j2", facts=2, mentions=1, max_words=7)
    assert "mention_" not in render("json_note.j2", facts=2, mentions=0, max_words=7)
    assert "at most 5 words" in render("json_mention.j2", max_words=5, vetted=False)
    assert "at most 5 words" not in render("json_mention.j2", max_words=5, vetted=True)


def _fact_lines(record) -> list[tuple[str, set[str], str]]:
    """(line, groups it names, relation type) for every stated relation of ``record``."""
    types = {e.id: e.type for e in record.entities}
    out = []
    for relation in record.relations:
        start = record.text.rfind("\n", 0, relation.trigger.start) + 1
        end = record.text.find("\n", relation.trigger.end)
        out.append((record.text[start: None if end < 0 else end], {types[relation.subject], types[relation.object]},
                    relation.type))
    return out


def test_fact_sentences_say_one_fitting_setting(tmp_path: Path) -> None:
    """No "at diagnosis" on a fact without a disease, no patient setting for a binding, no
    "In vitro, ... in cultured cells", and no lead or tail that the note says elsewhere."""
    from kgsynth.generation.prompt import read_yaml

    words = read_yaml("abstract.yaml")
    contexts = {(t if isinstance(t, str) else t["text"]).rstrip(",") for t in [*words["leads"], *words["tails"]]}
    setting = re.compile("|".join(re.escape(s.rstrip(",")) for s in words["settings"]), re.IGNORECASE)
    patient = re.compile(r"patients?\b|cohort", re.IGNORECASE)
    out = tmp_path / "notes"
    generate(POOL, TemplateBackend(), out, 150, seed=5, plan=plan_notes(POOL, 150, max_notes_per_fact=20, seed=5),
             note_style="abstract", quiet=True)
    checked = {"disease_tail": 0, "binds": 0, "context": 0}
    for record in read_notes(out):
        for line, groups, relation_type in _fact_lines(record):
            if re.search(r"(?:at diagnosis|during follow-up)\.$", line):
                assert "Disease" in groups, line
                checked["disease_tail"] += 1
            if relation_type == "BINDS":
                assert not patient.search(line), line
                checked["binds"] += 1
            assert len(setting.findall(line)) <= 1, line
            rest = record.text.replace(line, "").lower()
            for text in contexts:
                if line.startswith(text) or line.endswith(f" {text}."):
                    assert text.lower() not in rest, (text, record.text)
                    checked["context"] += 1
    assert min(checked.values()) > 5, checked  # every check ran on this sample


def test_case_reports_report_a_disease(tmp_path: Path) -> None:
    """A case report abstract names a disease: gene-gene facts alone go to research abstracts."""
    no_disease = [_fact("V1", "ASSOCIATED_WITH", "G2"), _fact("C1", "BINDS", "G1"), _fact("C2", "COTREATMENT", "C3")]
    for pool, name in ((POOL, "all"), (no_disease, "none")):
        out = tmp_path / name
        generate(pool, TemplateBackend(), out, 60, seed=4, plan=plan_notes(pool, 60, max_notes_per_fact=20, seed=4),
                 note_style="abstract", quiet=True)
        records = list(read_notes(out))
        case_reports = [r for r in records if r.note_type == "case report abstract"]
        for record in case_reports:
            assert any(e.type == "Disease" for e in record.entities), record.text
            # One patient: no binding, and no statistic over many ("correlated with") where the fact has
            # another phrasing (every fact of POOL that a case report can hold has one).
            assert "BINDS" not in {r.type for r in record.relations}, record.text
            assert not re.search(r"correlat|(?:positively|negatively|inversely) associated|related to", record.text), \
                record.text
        assert bool(case_reports) == (name == "all"), {r.note_type for r in records}


def test_fitting_leaves_out_templates_of_other_relation_types() -> None:
    from kgsynth.generation.context_words import fitting_templates as _fitting

    templates = ["in rats", {"text": "in most patients", "not_types": ["BINDS"]},
                 {"text": "at diagnosis", "needs": ["Disease"], "not_types": ["BINDS"]}]
    assert _fitting(templates, (), {"Gene", "Chemical"}, {"BINDS"}) == ["in rats"]
    assert _fitting(templates, (), {"Gene", "Disease"}, {"ASSOCIATED_WITH"}) == ["in rats", "in most patients",
                                                                              "at diagnosis"]
    assert _fitting(templates, (), {"Gene", "Disease"}, set()) == ["in rats", "in most patients", "at diagnosis"]


def test_a_drug_fact_is_not_stated_at_diagnosis() -> None:
    """ "Etomidate increased the risk of myoclonic jerks at diagnosis." reads wrong; a gene's can be."""
    from kgsynth.generation.backends.template_abstract import context

    def tails(groups: set[str]) -> set[str]:
        return {context(random.Random(seed), groups=groups, types={"POSITIVE_CORRELATION"})[1] for seed in range(300)}

    assert "at diagnosis" not in tails({"Chemical", "Disease"})
    assert "at diagnosis" in tails({"Gene", "Disease"})


def test_a_note_about_one_patient_states_no_statistic_unless_the_fact_has_no_other_phrasing() -> None:
    from kgsynth.generation.lexicon import for_note, load_lexicon

    lexicon = load_lexicon()
    fact = _fact("C1", "NEGATIVE_CORRELATION", "D1")
    every = lexicon.for_fact(fact, fact.relations[0])
    for note_type in ("case report abstract", "discharge summary", "progress note"):
        one_patient = lexicon.for_fact(fact, fact.relations[0], note_type)
        assert one_patient == for_note(every, note_type)
        assert one_patient and len(one_patient) < len(every)
        assert not any("correlat" in p.phrase or "inversely" in p.phrase for p in one_patient)
    assert lexicon.for_fact(fact, fact.relations[0], "research abstract") == every
    drugs = _fact("C2", "NEGATIVE_CORRELATION", "C3")  # two drugs: only statistic phrasings exist
    both = lexicon.for_fact(drugs, drugs.relations[0])
    assert for_note(both, "case report abstract") == both


def test_every_writer_constraint_keeps_statistics_out_of_a_note_about_one_patient() -> None:
    """The LLM writers are held to what the template writes: the transformers regex and the openai JSON
    schema of a chart note or case report admit no "correlated with", a research abstract's do."""
    from kgsynth.generation.backends.openai_backend import note_schema
    from kgsynth.generation.grammar import note_regex
    from kgsynth.generation.lexicon import load_lexicon

    lexicon = load_lexicon()
    fact = _fact("C1", "NEGATIVE_CORRELATION", "D1")
    for note_type, allowed in (("discharge summary", False), ("case report abstract", False),
                               ("research abstract", True), (None, True)):
        regex = note_regex(fact, lexicon, 6, note_type)
        assert ("correlated" in regex) is allowed, note_type
        schema = json.dumps(note_schema(fact, lexicon, 6, note_type))
        assert ("correlated" in schema) is allowed, note_type
        kept = lexicon.for_fact(fact, fact.relations[0], note_type)  # the fact is still stated, by these
        assert kept and all(re.escape(p.phrase) in regex and p.phrase in schema for p in kept)


def test_a_fact_no_chart_note_fits_is_written_as_a_research_abstract() -> None:
    """A gene-gene binding fits no chart note type: the fact style writes it as a research abstract in
    research words (before: "Progress note: 57-year-old female patient. IL-2 binds to IL-2Ralpha at the
    last visit."), with a header naming no patient and a prompt for a researcher; a case report takes
    abstract words too, chart notes keep theirs."""
    from kgsynth.generation.backends import make_backend
    from kgsynth.generation.prompt import build_prompt

    settings = load_settings()
    clinical = read_yaml("context.yaml")
    binding = _fact("G1", "BINDS", "G2")
    drug = _fact("C1", "POSITIVE_CORRELATION", "D1")
    backend = make_backend("template")
    for seed in range(20):
        prompt = build_prompt(binding, random.Random(seed), settings)
        assert prompt.note_type == "research abstract" and prompt.header == "Research abstract."
        assert prompt.text.startswith("You are a researcher writing a research abstract.")
        line = backend.write(binding, prompt, seed).tagged.splitlines()[1]
        assert not any(w.lower() in line.lower() for w in clinical["leads"] + clinical["tails"]), line
        assert not line.startswith(tuple(read_yaml("abstract.yaml")["connectives"])), line  # nothing before it
        case = build_prompt(drug, random.Random(seed), settings.model_copy(update={
            "note_types": {"case report abstract": 1.0}}))
        line = backend.write(drug, case, seed).tagged.splitlines()[1]  # an abstract: no chart words either
        assert not any(w.lower() in line.lower() for w in clinical["leads"] + clinical["tails"]), line
        chart = build_prompt(drug, random.Random(seed), settings)
        assert chart.note_type in settings.note_types  # a drug-disease fact keeps its chart note
        assert chart.header.startswith(chart.note_type.capitalize() + ": ") and "-year-old" in chart.header


def test_a_fact_sentence_without_a_fitting_tail_gets_a_lead() -> None:
    """A variant-gene fact in a case report fits no tail (no lab or study words there): it gets a lead,
    never a bare "Name v1 co-occurred with name g2." line; a cotreatment is not given "after treatment"."""
    from kgsynth.generation.backends.template_abstract import avoided_words, context

    avoid = avoided_words("case report abstract", random.Random(0))
    pairs = [context(random.Random(seed), avoid=avoid, groups={"Variant", "Gene"}, types={"ASSOCIATED_WITH"})
             for seed in range(60)]
    assert all(lead and not tail for lead, tail in pairs), pairs
    tails = {kind: {context(random.Random(seed), groups={"Chemical"}, types={kind})[1] for seed in range(200)}
             for kind in ("COTREATMENT", "NEGATIVE_CORRELATION")}
    assert "after treatment" not in tails["COTREATMENT"] and "after treatment" in tails["NEGATIVE_CORRELATION"]
    bound = {context(random.Random(seed), groups={"Chemical", "Gene"}, types={"BINDS"})[1] for seed in range(200)}
    assert "after treatment" not in bound and "at higher doses" in bound  # a compound binds at a dose, not after it
