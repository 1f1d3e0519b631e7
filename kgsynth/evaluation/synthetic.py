"""Template-written notes from KG facts: the baseline every generator must beat.

Used as the "template baseline" column of ``kgsynth report``, to exercise checks and
reports without a language model, and as the stand-in for generated notes in
``bench/utility.py`` when no generator output is given. ``variety=1`` uses one fixed
phrasing per relation type (the lexicon's first, the classic template baseline); a higher
variety draws from several of the lexicon's phrasings and synonyms, which is what diversity metrics should detect.
Annotation is exact by construction, and the "extraction pass" is the annotation itself.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import replace

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance
from kgsynth.generation.agreement import agreeing
from kgsynth.generation.lexicon import load_lexicon
from kgsynth.generation.prompt import read_yaml
from kgsynth.generation.record import Entity, NoteRecord, NoteRelation, Trigger
from kgsynth.generation.tags import opening_surface
from kgsynth.graph.model import Concept, Relation

OPENINGS = ["", "Follow-up visit. ", "Clinic note. ", "Discharge summary: ", "History: "]


def _mention(concept: Concept, rng: random.Random, variety: int) -> str:
    names = concept.names() or [concept.id]
    return names[0] if variety <= 1 else rng.choice(names[: 1 + variety])


def _instance(subject: Concept, relation: Relation, object_: Concept) -> MotifInstance:
    return MotifInstance(
        motif="single_edge",
        concepts=[
            InstanceConcept(slot="a", id=subject.id, name=subject.name, group=subject.group, synonyms=subject.synonyms),
            InstanceConcept(slot="b", id=object_.id, name=object_.name, group=object_.group, synonyms=object_.synonyms),
        ],
        relations=[InstanceRelation(subject=relation.subject, type=relation.type, object=relation.object)],
    )


def template_note(
    subject: Concept, relation: Relation, object_: Concept, rng: random.Random, variety: int = 1, dataset: str = ""
) -> NoteRecord:
    """One note stating one fact, annotated exactly."""
    phrasings = load_lexicon().phrasings(relation.type)
    phrasing = phrasings[0] if variety <= 1 else rng.choice(phrasings[: 1 + variety])
    tails = read_yaml("context.yaml")["tails"]
    s_text, o_text = _mention(subject, rng, variety), _mention(object_, rng, variety)
    first = s_text if phrasing.first == "subject" else o_text  # the verb agrees with it: "Seizures were"
    phrasing = replace(phrasing, phrase=agreeing(phrasing.phrase, first))
    template = phrasing.sentence("{s}", "{o}") + " " + (tails[0] if variety <= 1 else rng.choice(tails)) + "."
    opening = "" if variety <= 1 else rng.choice(OPENINGS)
    text = opening
    entities: list[Entity] = []
    spans: dict[str, str] = {}
    pieces = template.replace("{s}", "\0s\0").replace("{o}", "\0o\0").split("\0")
    for i, piece in enumerate(pieces):
        if piece in ("s", "o") and i % 2 == 1:
            concept, mention = (subject, s_text) if piece == "s" else (object_, o_text)
            if not text or text.endswith(". ") or text.endswith(": "):
                mention = opening_surface(mention)  # "Cyclosporine", but "mTOR" as written
            eid = f"T{len(entities) + 1}"
            entities.append(
                Entity(
                    id=eid,
                    start=len(text),
                    end=len(text) + len(mention),
                    text=mention,
                    type=concept.group,
                    concept_id=concept.id,
                )
            )
            spans[piece] = eid
            text += mention
        else:
            text += piece
    start, end = entities[0].end + 1, entities[1].start - 1
    rel = NoteRelation(subject=spans["s"], type=relation.type, object=spans["o"],
                       trigger=Trigger(start=start, end=end, text=text[start:end]), novelty=relation.novelty,
                       evidence=list(relation.evidence))
    return NoteRecord(
        text=text,
        entities=entities,
        relations=[rel],
        extracted_relations=[rel],
        instance=_instance(subject, relation, object_),
        note_type="template",
        backend="template",
        dataset=dataset,
    )


def template_notes(
    concepts: Iterable[Concept],
    relations: Iterable[Relation],
    n: int,
    seed: int = 0,
    variety: int = 1,
    dataset: str = "",
) -> list[NoteRecord]:
    """``n`` notes cycling over the facts whose endpoints are known concepts (skipping SAME_AS/IS_A)."""
    by_id = {c.id: c for c in concepts}
    facts = [r for r in relations if r.subject in by_id and r.object in by_id and r.type not in ("SAME_AS", "IS_A")]
    if not facts:
        return []
    rng = random.Random(seed)
    notes: dict[str, NoteRecord] = {}
    i = 0
    while len(notes) < n and i < n * 20:
        fact = facts[i % len(facts)] if variety <= 1 else rng.choice(facts)
        note = template_note(by_id[fact.subject], fact, by_id[fact.object], rng, variety, dataset)
        notes.setdefault(note.id, note)
        i += 1
    if variety <= 1 and len(notes) < n:
        # the fixed template yields one note per fact; repeat them (as a baseline would) with new ids
        base = list(notes.values())
        for k in range(n - len(notes)):
            note = base[k % len(base)]
            notes[f"{note.id}-{k}"] = note.model_copy(update={"id": f"{note.id}-{k}"})
    return list(notes.values())[:n]
