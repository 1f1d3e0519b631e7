"""Vetted context words: an LLM writer chooses among the leads and tails that fit, instead of free runs."""

from __future__ import annotations

import json
import random
import re

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.backends.openai_backend import note_schema, tagged_from_json
from kgsynth.generation.backends.template_backend import TemplateBackend
from kgsynth.generation.compose import ABSTRACT_MOTIF
from kgsynth.generation.context_words import context_for_fact, fact_context, note_population, study_wording
from kgsynth.generation.grammar import note_regex
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.prompt import build_prompt, load_settings, read_yaml

LEXICON = load_lexicon()
GROUPS = {"G": "Gene", "D": "Disease", "C": "Chemical", "V": "Variant"}


def _fact(s: str, t: str, o: str) -> MotifInstance:
    def concept(cid: str) -> InstanceConcept:
        return InstanceConcept(slot="x", id=f"X:{cid}", name=f"name {cid.lower()}", group=GROUPS[cid[0]])

    return MotifInstance(motif="single_edge", stratum=t, concepts=[concept(s), concept(o)],
                         relations=[InstanceRelation(subject=f"X:{s}", type=t, object=f"X:{o}")])


DRUG = _fact("C1", "POSITIVE_CORRELATION", "D1")
BINDING = _fact("C1", "BINDS", "G1")


def test_vetted_fact_lines_take_only_fitting_leads_and_tails() -> None:
    """A chart note's line takes a chart lead or tail, a research abstract's a research one; free words,
    the other register's words, a second setting and a connective before anything are refused."""
    chart = re.compile(note_regex(DRUG, LEXICON, 10, "progress note", "vetted"))
    assert chart.fullmatch("On admission, [[name c1|C1]] increased the risk of [[name d1|C2]].")
    assert chart.fullmatch("[[Name c1|C1]] increased the risk of [[name d1|C2]] at the last visit.")
    assert chart.fullmatch("Notably, [[name c1|C1]] increased the risk of [[name d1|C2]] on further review.")
    assert not chart.fullmatch("Glamiman eunohelon, [[name c1|C1]] increased the risk of [[name d1|C2]].")
    assert not chart.fullmatch("In this study, [[name c1|C1]] increased the risk of [[name d1|C2]].")
    assert not chart.fullmatch("[[Name c1|C1]] increased the risk of [[name d1|C2]].")  # a bare line
    study = re.compile(note_regex(BINDING, LEXICON, 10, "research abstract", "vetted", ("rats",)))
    assert study.fullmatch("In vitro, [[name c1|C1]] binds to [[name g1|C2]] at higher doses.")
    assert study.fullmatch("We found that [[name c1|C1]] binds to [[name g1|C2]] in mice.")
    assert not study.fullmatch("In vitro, [[name c1|C1]] binds to [[name g1|C2]] in cultured cells.")  # two settings
    assert not study.fullmatch("[[Name c1|C1]] binds to [[name g1|C2]] in rats.")  # the note's population avoids rats
    assert not study.fullmatch("Furthermore, [[name c1|C1]] binds to [[name g1|C2]] in mice.")  # first line
    assert not study.fullmatch("In our cohort, [[name c1|C1]] binds to [[name g1|C2]].")  # no cohort for a binding
    assert not study.fullmatch("On admission, [[name c1|C1]] binds to [[name g1|C2]].")
    free = re.compile(note_regex(DRUG, LEXICON, 10, "progress note", "free"))
    assert free.fullmatch("Glamiman eunohelon, [[name c1|C1]] increased the risk of [[name d1|C2]].")
    with pytest.raises(ValueError, match="context_words"):
        note_regex(DRUG, LEXICON, 10, "progress note", "loose")


def test_template_notes_fit_the_vetted_grammar() -> None:
    """Every fact-style template note (header aside) is a note the vetted constraint admits, with the
    population the note was written for: the template and the LLM writers share one set of words."""
    settings = load_settings()
    backend = TemplateBackend(LEXICON)
    facts = [DRUG, BINDING, _fact("V1", "ASSOCIATED_WITH", "G1"), _fact("C1", "COTREATMENT", "C2"),
             _fact("G1", "ASSOCIATED_WITH", "D1"), _fact("C1", "NEGATIVE_CORRELATION", "D1")]
    seen = set()
    for seed in range(120):
        fact = facts[seed % len(facts)]
        prompt = build_prompt(fact, random.Random(seed), settings, LEXICON)
        body = backend.write(fact, prompt, seed).tagged.split("\n", 1)[1]
        regex = note_regex(fact, LEXICON, 10, prompt.note_type, "vetted", note_population(prompt.note_type, seed))
        assert re.fullmatch(regex, body), (prompt.note_type, body)
        seen.add(study_wording(prompt.note_type))
    assert seen == {True, False}  # both registers were tried


def test_vetted_distractor_lines_are_distractor_sentences() -> None:
    """An abstract note's distractor line is one of its group's distractor sentences, naming it only."""
    concepts = [InstanceConcept(slot=s, id=f"X:{s}", name=f"name {s.lower()}", group=GROUPS[s[0]])
                for s in ("C1", "D1", "G9")]
    instance = MotifInstance(motif=ABSTRACT_MOTIF, stratum="POSITIVE_CORRELATION", concepts=concepts,
                             relations=[InstanceRelation(subject="X:C1", type="POSITIVE_CORRELATION", object="X:D1")])
    lines = note_regex(instance, LEXICON, 10, "research abstract", "vetted").split(r"\n")
    assert len(lines) == 2
    mention = re.compile(lines[1])
    assert mention.fullmatch("Samples were additionally screened for [[name g9|C3]].")
    assert mention.fullmatch("We also measured [[name g9|C3]].")  # a gene may be measured
    assert not mention.fullmatch("The history included [[name g9|C3]].")  # a disease's sentence
    assert not mention.fullmatch("Our team was glad to see [[name g9|C3]].")


def test_openai_vetted_schema_offers_the_same_choices() -> None:
    """The openai schema's vetted before/after are enums of the fitting leads and tails (a setting lead
    with no setting tail; no lead, then a tail), and an answer built from them joins into a line the
    vetted regex admits."""
    schema = note_schema(BINDING, LEXICON, 10, "research abstract", "vetted", ("rats",))
    orders = schema["properties"]["fact_1"]["anyOf"]
    fit = context_for_fact(BINDING, BINDING.relations[0], "research abstract", ("rats",), first=True)
    befores = {b for o in orders for b in o["properties"]["before"]["enum"]}
    assert befores == set(fit.leads) | {""}
    for o in orders:
        before, after = o["properties"]["before"]["enum"], o["properties"]["after"]["enum"]
        if "In vitro," in before:
            assert "in cultured cells" not in after and "" in after
        if before == [""]:
            assert "" not in after  # no bare line
    regex = re.compile(note_regex(BINDING, LEXICON, 10, "research abstract", "vetted", ("rats",)))
    first = orders[0]["properties"]
    answer = {"fact_1": {"before": first["before"]["enum"][0],
                         "first": {"concept": first["first"]["properties"]["concept"]["enum"][0],
                                   "name": first["first"]["properties"]["name"]["enum"][0]},
                         "phrase": first["phrase"]["enum"][0],
                         "second": {"concept": first["second"]["properties"]["concept"]["enum"][0],
                                    "name": first["second"]["properties"]["name"]["enum"][0]},
                         "after": first["after"]["enum"][0]}}
    assert regex.fullmatch(tagged_from_json(json.dumps(answer), BINDING))
    free = note_schema(BINDING, LEXICON, 10, "research abstract")  # the default keeps free runs
    assert "pattern" in free["properties"]["fact_1"]["anyOf"][0]["properties"]["after"]


def test_fact_context_keeps_file_order_and_reads_both_registers() -> None:
    """The template draws from the same lists in the same order (its notes stay the same for a seed)."""
    research = read_yaml("abstract.yaml")
    fit = fact_context("abstract.yaml", (), {"Chemical", "Gene"}, {"BINDS"})
    texts = [t if isinstance(t, str) else t["text"] for t in research["leads"]]
    assert list(fit.leads) == [t for t in texts if t in fit.leads]
    assert "In our cohort," not in fit.leads and "In vitro," in fit.leads and "In vitro," in fit.settings
    chart = fact_context("context.yaml", (), {"Chemical", "Disease"})
    assert list(chart.leads) == read_yaml("context.yaml")["leads"] and not chart.settings
    from kgsynth.generation.context_words import avoided_words

    assert note_population("progress note", 3) == ()  # chart words: no population to keep
    drawn = [note_population("research abstract", seed) for seed in range(30)]
    assert drawn == [avoided_words("research abstract", random.Random(seed)) for seed in range(30)]
    assert len(set(drawn)) == 3  # patients, rats and mice all come up
