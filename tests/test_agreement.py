"""A fact sentence's verb agrees with the mention named first: "Seizures were associated with ..."."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.agreement import plural_phrase, reads_plural
from kgsynth.generation.backends.template_backend import TemplateBackend
from kgsynth.generation.dataset_folder import read_notes
from kgsynth.generation.engine import generate
from kgsynth.generation.grammar import note_regex
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.note_plan import plan_notes
from kgsynth.generation.prompt import build_prompt, load_settings
from kgsynth.generation.record import Entity


@pytest.mark.parametrize(("surface", "plural"), [
    ("seizures", True), ("Tumors", True), ("calcineurin inhibitors", True), ("NSAIDs", True),
    ("levodopa-induced dyskinesias", True), ("mutations in BRCA1", True), ("arrhythmias", True),
    ("bacteria", True), ("[[absence seizures|C2]]", True),
    ("sirolimus", False), ("status epilepticus", False), ("tumorigenesis", False), ("weight loss", False),
    ("extract of Daucus carota seeds", False), ("reactive oxygen species", False), ("diabetes", False),
    ("measles", False), ("AIDS", False), ("Parkinson's", False), ("Ras", False), ("p53", False),
    ("hypertension", False), ("pharmacokinetics", False), ("proteomics", False), ("Actos", False),
])
def test_reads_plural(surface: str, plural: bool) -> None:
    assert reads_plural(surface) is plural


@pytest.mark.parametrize(("phrase", "expected"), [
    ("was associated with", "were associated with"), ("is converted to", "are converted to"),
    ("has been linked to", "have been linked to"), ("binds", "bind"), ("encompasses", "encompass"),
    ("typically shows", "typically show"), ("lies within the", "lie within the"),
    ("induced", "induced"), ("can cause", "can cause"), ("correlated inversely with", "correlated inversely with"),
])
def test_plural_phrase(phrase: str, expected: str) -> None:
    assert plural_phrase(phrase) == expected


def _instance() -> MotifInstance:
    concepts = [InstanceConcept(slot="a", id="X:D1", name="absence seizures", group="Disease"),
                InstanceConcept(slot="b", id="X:G1", name="CACNA1H", group="Gene"),
                InstanceConcept(slot="c", id="X:C1", name="statins", synonyms=["statin"], group="Chemical")]
    relations = [InstanceRelation(subject="X:D1", type="ASSOCIATED_WITH", object="X:G1"),
                 InstanceRelation(subject="X:C1", type="NEGATIVE_CORRELATION", object="X:D1")]
    return MotifInstance(motif="path", stratum="x", concepts=concepts, relations=relations)


#: A plural name right before a singular verb, or the singular "statin" right before a plural one.
_DISAGREE = re.compile(r"\b(?:seizures|statins)\|C\d\]\] (?:is|was|has)\b|\bstatin\|C\d\]\] (?:are|were|have)\b",
                       re.IGNORECASE)
_PLURAL_VERBS = {"are", "were", "have"}


def _first_verbs(record) -> list[tuple[str, str]]:
    """(first-named mention, first word of its trigger) of every stated fact of a note."""
    out = []
    for rel in record.relations:
        start = rel.trigger.start
        first = max((e for e in record.entities if e.end < start), key=lambda e: e.end)
        out.append((first.text.lower(), rel.trigger.text.split()[0]))
    return out


def test_the_constraint_ties_the_verb_to_the_first_mention() -> None:
    inst, lexicon = _instance(), load_lexicon()
    rx = re.compile(note_regex(inst, lexicon))
    good = ("[[Absence seizures|C1]] were associated with [[CACNA1H|C2]], in this cohort.\n"
            "[[Statins|C3]] were negatively correlated with [[absence seizures|C1]], in this cohort.")
    assert rx.fullmatch(good)
    assert rx.fullmatch(good.replace("[[Statins|C3]] were", "[[Statin|C3]] was"))
    assert not rx.fullmatch(good.replace("seizures|C1]] were", "seizures|C1]] was"))
    assert not rx.fullmatch(good.replace("[[Statins|C3]] were", "[[Statin|C3]] were"))


def test_template_notes_agree_and_every_fact_is_still_found(tmp_path: Path) -> None:
    inst, lexicon = _instance(), load_lexicon()
    backend = TemplateBackend(lexicon)
    rx = re.compile(note_regex(inst, lexicon))
    for seed in range(40):
        tagged = backend.write(inst, build_prompt(inst, random.Random(seed), load_settings(), lexicon), seed).tagged
        body = tagged.split("\n", 1)[1]
        assert rx.fullmatch(body), body
        assert not _DISAGREE.search(body), body
    out = tmp_path / "abstracts"
    report = generate([inst], backend, out, 12, seed=5, plan=plan_notes([inst], 12, max_notes_per_fact=12, seed=5),
                      note_style="abstract", quiet=True)
    assert report.written == 12 and report.rejected == 0
    pairs = [pair for record in read_notes(out) for pair in _first_verbs(record)]
    assert len(pairs) >= 24  # both facts of every note stated and found, in either number
    for mention, verb in pairs:
        if mention in ("absence seizures", "statins"):
            assert verb not in ("is", "was", "has"), (mention, verb)
        elif mention == "statin":
            assert verb not in _PLURAL_VERBS, (mention, verb)
    assert any(verb in _PLURAL_VERBS for _, verb in pairs)


def test_the_statement_finder_reads_both_numbers() -> None:
    lexicon = load_lexicon()
    text = "Seizures were associated with CACNA1H. Seizure was associated with CACNA1H."
    ents = [Entity(id="T1", start=0, end=8, text="Seizures", type="Disease", concept_id="X:D1"),
            Entity(id="T2", start=30, end=37, text="CACNA1H", type="Gene", concept_id="X:G1"),
            Entity(id="T3", start=39, end=46, text="Seizure", type="Disease", concept_id="X:D1"),
            Entity(id="T4", start=67, end=74, text="CACNA1H", type="Gene", concept_id="X:G1")]
    assert [text[e.start:e.end] for e in ents] == ["Seizures", "CACNA1H", "Seizure", "CACNA1H"]
    found = lexicon.statements(text, ents)
    assert [(s.type, s.subject.id, s.phrase) for s in found] == [
        ("ASSOCIATED_WITH", "T1", "were associated with"), ("ASSOCIATED_WITH", "T3", "was associated with")]
