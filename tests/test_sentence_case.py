"""Sentences that open with a mention are capitalized, and "an 87-year-old" takes its article."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.backends.template_backend import TemplateBackend
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.grammar import note_regex
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.note_plan import plan_notes
from kgsynth.generation.prompt import build_prompt, load_settings, with_article
from kgsynth.generation.tags import TagError, sentence_case, strip_tags


def _instance() -> MotifInstance:
    concepts = [InstanceConcept(slot="a", id="X:C1", name="cyclosporine", group="Chemical"),
                InstanceConcept(slot="b", id="X:G1", name="mTOR", group="Gene"),
                InstanceConcept(slot="c", id="X:D1", name="renal tissue damage", group="Disease")]
    relations = [InstanceRelation(subject="X:C1", type="NEGATIVE_CORRELATION", object="X:G1"),
                 InstanceRelation(subject="X:C1", type="POSITIVE_CORRELATION", object="X:D1")]
    return MotifInstance(motif="path", stratum="x", concepts=concepts, relations=relations)


@pytest.mark.parametrize(("sentence", "expected"), [
    ("[[cyclosporine|C1]] was given.", "[[Cyclosporine|C1]] was given."),
    ("[[renal tissue damage|C3]] improved.", "[[Renal tissue damage|C3]] improved."),
    ("[[alpha-synuclein|C1]] rose.", "[[Alpha-synuclein|C1]] rose."),
    ("[[mTOR|C2]] fell.", "[[mTOR|C2]] fell."),  # not a plain word: kept as written
    ("[[p.R491C|C1]] was found.", "[[p.R491C|C1]] was found."),
    ("[[rs1042522|C1]] was found.", "[[rs1042522|C1]] was found."),
    ("[[caspase-3|C1]] rose.", "[[Caspase-3|C1]] rose."),
    ("[[erbB3|C1]] rose.", "[[erbB3|C1]] rose."),
    ("[[p53|C1]] rose.", "[[p53|C1]] rose."),
    ("in rats, [[mTOR|C2]] fell.", "In rats, [[mTOR|C2]] fell."),
    ("an 87-year-old patient.", "An 87-year-old patient."),
])
def test_sentence_case_capitalizes_a_plain_first_word_only(sentence: str, expected: str) -> None:
    assert sentence_case(sentence) == expected


def test_a_capitalized_name_is_accepted_at_a_sentence_start_only() -> None:
    inst = _instance()
    stripped = strip_tags("Note.\n[[Cyclosporine|C1]] was stopped. [[Renal tissue damage|C3]] resolved.", inst)
    assert [(e.text, e.concept_id) for e in stripped.entities] == [("Cyclosporine", "X:C1"),
                                                                   ("Renal tissue damage", "X:D1")]
    assert stripped.text[stripped.entities[0].start:stripped.entities[0].end] == "Cyclosporine"
    with pytest.raises(TagError, match="not an allowed name"):
        strip_tags("The patient was given [[Cyclosporine|C1]].", inst)


@pytest.mark.parametrize(("age", "expected"), [(64, "a 64"), (87, "an 87"), (80, "an 80"), (18, "an 18"),
                                               (11, "an 11"), (8, "an 8"), (19, "a 19"), (118, "a 118")])
def test_with_article(age: int, expected: str) -> None:
    assert with_article(age) == expected


def test_template_notes_open_every_line_with_a_capital(tmp_path: Path) -> None:
    inst = _instance()
    lexicon = load_lexicon()
    backend = TemplateBackend(lexicon)
    rx = re.compile(note_regex(inst, lexicon))
    for seed in range(30):  # fact notes: the baseline obeys the LLM writers' grammar, capitals included
        tagged = backend.write(inst, build_prompt(inst, random.Random(seed), load_settings(), lexicon), seed).tagged
        body = tagged.split("\n", 1)[1]
        assert rx.fullmatch(body), body
        assert all(not re.match(r"\[\[[a-z]+[ .,]", line) or line.startswith("[[mTOR") for line in body.split("\n"))
    out = tmp_path / "abstracts"
    report = generate([inst], backend, out, 12, seed=3, plan=plan_notes([inst], 12, max_notes_per_fact=12, seed=3),
                      note_style="abstract", quiet=True)
    assert report.written == 12 and report.rejected == 0
    for record in read_notes(out):
        for line in record.text.split("\n"):
            assert line[:1].isupper() or line.startswith("mTOR"), record.text
        assert not re.search(r"\ba 8\d?-year-old|\ba 1[18]-year-old", record.text)


def test_a_one_adjective_disease_name_is_not_written_where_a_noun_goes() -> None:
    from kgsynth.generation.tags import surfaces

    inflammation = InstanceConcept(slot="a", id="X:D2", name="proinflammatory", synonyms=["inflammation"],
                                   group="Disease")
    assert surfaces(inflammation) == ["inflammation"]
    alone = InstanceConcept(slot="a", id="X:D3", name="hyperkinetic", group="Disease")
    assert surfaces(alone) == ["hyperkinetic"]  # no other name: kept
    bleeding = InstanceConcept(slot="a", id="X:D4", name="bleeding", synonyms=["hemorrhage"], group="Disease")
    assert surfaces(bleeding) == ["bleeding", "hemorrhage"]  # a gerund is a noun
    gene = InstanceConcept(slot="a", id="X:G2", name="cytotoxic", synonyms=["CTL"], group="Gene")
    assert surfaces(gene) == ["cytotoxic", "CTL"]  # only disease and phenotype names
    nimesulide = InstanceConcept(slot="a", id="X:C9", name="nimesulide", synonyms=["N"], group="Chemical")
    assert surfaces(nimesulide) == ["nimesulide"]  # an abstract's one-letter abbreviation, out of its context
    goltz = InstanceConcept(slot="a", id="X:D5", name="focal dermal hypoplasia", synonyms=["OMIM 305600", "FDH"],
                            group="Disease")
    assert surfaces(goltz) == ["focal dermal hypoplasia", "FDH"]  # a citation is no name to write
    amiodarone = InstanceConcept(slot="a", id="X:C8", name="Amiodarone", synonyms=["amiodarone"], group="Chemical")
    assert surfaces(amiodarone) == ["amiodarone"]  # a capital of place gives way to the name's own case
    akt = InstanceConcept(slot="a", id="X:G3", name="Akt", synonyms=["akt"], group="Gene")
    assert surfaces(akt) == ["Akt", "akt"]  # gene symbols keep both
    written = inflammation.model_copy(update={"written": {"inflammatory": "adjective"}})
    assert surfaces(written) == ["inflammation", "inflammatory"]  # a written adjective form is placed by its template
