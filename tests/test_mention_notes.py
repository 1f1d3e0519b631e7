"""Notes from single-concept (mention) instances in every backend: the concept named, as asked, in prose."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pytest

from kgsynth.cypher.cover import mention_instance
from kgsynth.cypher.instance import InstanceConcept, MotifInstance
from kgsynth.errors import InputError
from kgsynth.generation.annotate import build_record, validate
from kgsynth.generation.backends import make_backend
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.grammar import max_note_chars, note_regex
from kgsynth.generation.instances import read_instances
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.mention import (
    filled_template,
    mention_regex,
    mention_sentence,
    mention_surface,
    mention_templates,
)
from kgsynth.generation.prompt import build_prompt, load_settings
from kgsynth.generation.tags import strip_tags
from tests.test_backends import tiny_model  # noqa: F401 - the fixture, shared

NODES = [
    ["MESH:D009369", "Neoplasms", "Disease", ["Tumors", "Cancer"], []],
    ["MESH:D000082", "Acetaminophen", "Chemical", ["Paracetamol"], []],
    ["MESH:D001940", "Breast", "Anatomy", [], []],
]


def mentions() -> list[MotifInstance]:
    return [mention_instance(NODES[0], "Tumors", 0), mention_instance(NODES[0], "Cancer", 1),
            mention_instance(NODES[1], "Paracetamol", 0), mention_instance(NODES[2], "Breast", 0)]


def test_template_backend_names_the_concept_by_its_mention(tmp_path: Path):
    instances = mentions()
    report = generate(instances, make_backend("template"), tmp_path / "notes", 8, seed=3, quiet=True)
    assert (report.written, report.rejected) == (8, 0), report.reject_reasons
    for record in read_notes(tmp_path / "notes"):
        assert validate(record) == []
        instance = record.instance
        (concept,) = instance.concepts
        assert record.relations == [] and record.extracted_relations == []
        assert [(e.text, e.concept_id, e.type) for e in record.entities] == [
            (instance.mention, concept.id, concept.group)]
        entity = record.entities[0]
        assert record.text[entity.start:entity.end] == instance.mention
        tagged = record.text.splitlines()[-1].replace(instance.mention, f"[[{instance.mention}|C1]]", 1)
        assert re.fullmatch(mention_regex(instance), tagged)  # the template obeys the LLMs' constraint
        assert re.fullmatch(mention_regex(instance, context_words="vetted"), tagged)  # and the vetted one


def test_prompt_of_a_mention_instance():
    instance = mentions()[2]
    prompt = build_prompt(instance, random.Random(1), load_settings())
    assert prompt.facts == []
    assert '"Paracetamol"' in prompt.text and "[[Paracetamol|C1]]" in prompt.text
    assert "one sentence per fact" not in prompt.text


def test_constraint_admits_only_the_mention_once():
    instance = mentions()[0]
    lexicon = load_lexicon()
    regex = re.compile(note_regex(instance, lexicon, max_words=6))
    assert regex.fullmatch("The patient was evaluated for [[Tumors|C1]] of the skin.")
    assert regex.fullmatch("[[Tumors|C1]] were excluded.")
    assert not regex.fullmatch("[[Tumors|C1]].")  # a bare name is no context
    assert not regex.fullmatch("The patient was evaluated for [[Neoplasms|C1]].")  # another name than asked
    assert not regex.fullmatch("The patient has no findings.")  # the concept is not named
    assert not regex.fullmatch("[[Tumors|C1]] and [[Tumors|C1]].")
    assert not regex.fullmatch("History of[[Tumors|C1]].")  # glued to a word
    assert not regex.fullmatch("A\n[[Tumors|C1]].")
    assert not regex.fullmatch("See http://x.org on [[Tumors|C1]].")  # only clean words
    longest = " ".join(["Abcdefghijklmnop"] * 6) + ": [[Tumors|C1]], " + " ".join(["abcdefghijklmnop"] * 6) + "."
    assert regex.fullmatch(longest) and len(longest) <= max_note_chars(instance, lexicon, 6)


def _vetted_instances() -> list[MotifInstance]:
    """One instance per kind of template: a noun, an opening mention (Procedure), an adjective form."""
    procedure = mention_instance(["MESH:D001706", "Biopsy", "Procedure", [], []], "Biopsy", 0)
    hypertensive = mention_instance(["MESH:D006973", "Hypertension", "Disease", ["hypertensive"], []],
                                    "hypertensive", 0)
    written = hypertensive.concepts[0].model_copy(update={"written": {"hypertensive": "adjective"}})
    return [mentions()[0], procedure, hypertensive.model_copy(update={"concepts": [written]})]


def test_vetted_constraint_is_one_of_the_template_sentences():
    """Vetted mention notes: the writer chooses among the template backend's sentences, nothing else."""
    for instance in _vetted_instances():
        regex = re.compile(note_regex(instance, load_lexicon(), context_words="vetted"))
        sentences = {mention_sentence(instance, random.Random(seed)) for seed in range(60)}
        assert sentences == {filled_template(t, mention_surface(instance)) for t in mention_templates(instance)}
        assert all(regex.fullmatch(s) for s in sentences), sentences
        assert all(len(s) <= max_note_chars(instance, load_lexicon()) for s in sentences)
        free = re.compile(note_regex(instance, load_lexicon()))
        tagged = f"[[{mention_surface(instance)}|C1]]"
        assert free.fullmatch(f"Findings were reviewed for {tagged} today.")
        assert not regex.fullmatch(f"Findings were reviewed for {tagged} today.")  # free words
    assert re.fullmatch(note_regex(_vetted_instances()[1], load_lexicon(), context_words="vetted"),
                        "[[Biopsy|C1]] was performed without complication.")
    assert re.fullmatch(note_regex(_vetted_instances()[2], load_lexicon(), context_words="vetted"),
                        "The patient remained [[hypertensive|C1]] on admission.")
    with pytest.raises(ValueError, match="context_words must be one of"):
        note_regex(mentions()[0], load_lexicon(), context_words="loose")


def test_openai_vetted_mention_schema_is_the_template_sentences():
    from kgsynth.generation.backends.openai_backend import note_schema, tagged_from_json

    for instance in _vetted_instances():
        schema = note_schema(instance, load_lexicon(), context_words="vetted")
        assert schema["required"] == ["sentence"] and schema["additionalProperties"] is False
        joined = set()
        for option in schema["properties"]["sentence"]["anyOf"]:
            props = option["properties"]
            answer = {"before": props["before"]["enum"][0], "after": props["after"]["enum"][0],
                      "mention": {"concept": "C1", "name": props["mention"]["properties"]["name"]["enum"][0]}}
            joined.add(tagged_from_json(json.dumps({"sentence": answer}), instance))
        assert joined == {filled_template(t, mention_surface(instance)) for t in mention_templates(instance)}
        assert all(validate(build_record(t, instance)) == [] for t in joined)


def test_unknown_mention_falls_back_to_the_preferred_name():
    instance = mentions()[0].model_copy(update={"mention": "Not A Name"})
    assert re.fullmatch(note_regex(instance, load_lexicon()), "History of [[Neoplasms|C1]].")


def test_openai_mention_schema_joins_to_a_sound_tag():
    from kgsynth.generation.backends.openai_backend import note_schema, tagged_from_json

    instance = mentions()[2]
    schema = note_schema(instance, load_lexicon(), max_words=5)
    assert schema["required"] == ["before", "mention", "after"] and schema["additionalProperties"] is False
    assert schema["properties"]["mention"]["properties"]["name"]["enum"] == ["Paracetamol"]
    answer = {"before": "She took", "mention": {"concept": "C1", "name": "Paracetamol"}, "after": "for pain"}
    for key, pattern in (("before", schema["properties"]["before"]["pattern"]),
                         ("after", schema["properties"]["after"]["pattern"])):
        assert re.fullmatch(pattern, answer[key])
    stripped = strip_tags(tagged_from_json(json.dumps(answer), instance), instance)
    assert stripped.text == "She took Paracetamol for pain."
    assert [(e.text, e.concept_id) for e in stripped.entities] == [("Paracetamol", "MESH:D000082")]
    record = build_record(tagged_from_json(json.dumps(answer), instance), instance)
    assert validate(record) == []


def test_a_note_without_the_mention_is_rejected():
    instance = mentions()[0]
    record = build_record("History of [[Neoplasms|C1]].", instance)
    assert validate(record) == ["MESH:D009369 is not mentioned as 'Tumors'"]


def test_read_instances_accepts_single_concept_only(tmp_path: Path):
    path = tmp_path / "i.jsonl"
    path.write_text("".join(i.model_dump_json() + "\n" for i in mentions()))
    assert [i.motif for i in read_instances(path)] == ["mention"] * 4
    two = MotifInstance(motif="x", concepts=[InstanceConcept(slot="a", id="A:1", name="a", group="Other"),
                                             InstanceConcept(slot="b", id="B:1", name="b", group="Other")],
                        relations=[])
    path.write_text(two.model_dump_json() + "\n")
    with pytest.raises(InputError, match="i.jsonl:1: .*has no relation"):
        read_instances(path)


@pytest.mark.slow
def test_transformers_constraint_names_the_mention(tmp_path: Path, tiny_model):  # noqa: F811
    model, tokenizer = tiny_model
    backend = make_backend("transformers", hf_model=model, tokenizer=tokenizer, model="tiny-random", max_words=4)
    report = generate(mentions()[:2], backend, tmp_path / "notes", 2, seed=2, max_attempts=1, quiet=True)
    assert (report.written, report.rejected) == (2, 0), report.reject_reasons
    for record in read_notes(tmp_path / "notes"):
        assert validate(record) == []
        assert record.instance.mention in [e.text for e in record.entities]


def test_mention_templates_describe_one_patient() -> None:
    """A mention note's header describes one patient: no template goes on to describe a study."""
    from kgsynth.generation.prompt import read_yaml

    study = read_yaml("abstract.yaml")["study_words"]
    templates = [t for group in read_yaml("mentions.yaml").values() for t in group]
    assert len(templates) >= 30
    assert [t for t in templates if any(w in t.lower() for w in [*study, "this study", "this model"])] == []
