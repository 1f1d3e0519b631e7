"""Exports of a generated dataset: Hugging Face ``datasets``, BioC XML, token-level BIO (CoNLL).

Tokens come from one simple rule (runs of word characters, or single other
characters), and a token takes the label of the entity it overlaps, so the BIO view
and the character-offset view of a note can never disagree about which tokens an
entity covers.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from kgsynth.atomic import write_text_atomic
from kgsynth.generation.record import NoteRecord

TOKEN = re.compile(r"\w+|[^\w\s]")
#: BioC annotation type of a relation's trigger phrase (its relation names it with a "Trigger" node).
TRIGGER_TYPE = "RelationTrigger"


def bio_tokens(record: NoteRecord) -> list[tuple[str, int, int, str]]:
    """(token, start, end, BIO label) for every token of the note."""
    spans = sorted(record.entities, key=lambda e: (e.start, -e.end))
    out = []
    for m in TOKEN.finditer(record.text):
        label = "O"
        for e in spans:
            if m.start() < e.end and e.start < m.end():
                first = m.start() <= e.start or not out or out[-1][3] == "O" or out[-1][3][2:] != e.type
                label = ("B-" if first else "I-") + e.type
                break
        out.append((m.group(), m.start(), m.end(), label))
    return out


def to_conll(records: list[NoteRecord], path: Path) -> int:
    """Write ``token<TAB>label`` lines, a ``# id = ...`` line before and a blank line after each note."""
    lines = []
    for record in records:
        lines.append(f"# id = {record.id}")
        lines.extend(f"{tok}\t{label}" for tok, _, _, label in bio_tokens(record))
        lines.append("")
    write_text_atomic(path, "\n".join(lines) + "\n")
    return len(records)


def to_bioc(records: list[NoteRecord], path: Path, source: str = "kgsynth") -> int:
    """BioC XML: one document per note, one passage, entity annotations and relations (as BioRED has)."""
    import bioc

    collection = bioc.BioCCollection()
    collection.source = source
    collection.key = "kgsynth.key"
    for record in records:
        doc = bioc.BioCDocument()
        doc.id = record.id
        doc.infons["note_type"] = record.note_type
        doc.infons["instance"] = record.instance.id if record.instance else ""
        passage = bioc.BioCPassage()
        passage.offset = 0
        passage.text = record.text
        passage.infons["type"] = "note"
        for e in record.entities:
            ann = bioc.BioCAnnotation()
            ann.id = e.id
            ann.text = e.text
            ann.infons["type"] = e.type
            ann.infons["identifier"] = e.concept_id
            ann.add_location(bioc.BioCLocation(e.start, e.end - e.start))
            passage.add_annotation(ann)
        for i, r in enumerate(record.relations, 1):
            rel = bioc.BioCRelation()
            rel.id = f"R{i}"
            rel.infons["type"] = r.type
            if r.novelty:
                rel.infons["novel"] = r.novelty
            if r.evidence:
                rel.infons["evidence"] = ",".join(r.evidence)
            rel.add_node(bioc.BioCNode(r.subject, "Subject"))
            rel.add_node(bioc.BioCNode(r.object, "Object"))
            if r.trigger is not None:
                ann = bioc.BioCAnnotation()
                ann.id = f"R{i}.trigger"
                ann.text = r.trigger.text
                ann.infons["type"] = TRIGGER_TYPE
                ann.infons["relation"] = r.type
                ann.add_location(bioc.BioCLocation(r.trigger.start, r.trigger.end - r.trigger.start))
                passage.add_annotation(ann)
                rel.add_node(bioc.BioCNode(ann.id, "Trigger"))
            passage.add_relation(rel)
        doc.add_passage(passage)
        collection.add_document(doc)
    write_text_atomic(path, bioc.biocxml.dumps(collection))
    return len(records)


def to_hf(records: list[NoteRecord], path: Path) -> int:
    """``datasets.Dataset.save_to_disk``: text, entities, relations (with triggers), triggers, anaphors, BIO tokens."""
    from datasets import Dataset

    rows = []
    for r in records:
        toks = bio_tokens(r)
        rows.append({
            "id": r.id,
            "text": r.text,
            "note_type": r.note_type,
            "entities": [e.model_dump() for e in r.entities],
            "relations": [x.model_dump() for x in r.relations],
            "triggers": [{"relation": i, "type": x.type, **x.trigger.model_dump()}
                         for i, x in enumerate(r.relations) if x.trigger is not None],
            "anaphors": [a.model_dump() for a in r.anaphors],
            "extracted_relations": [x.model_dump() for x in r.extracted_relations],
            "tokens": [t for t, *_ in toks],
            "ner_tags": [lab for *_, lab in toks],
            "instance": r.instance.id if r.instance else "",
        })
    dataset = Dataset.from_list(rows)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".", dir=path.parent if path.parent.exists() else None))
    dataset.save_to_disk(str(tmp))
    if path.exists():
        shutil.rmtree(path)
    os.replace(tmp, path)
    return len(rows)


FORMATS = {"hf": to_hf, "bioc": to_bioc, "conll": to_conll}
SUFFIX = {"hf": "hf", "bioc": "bioc.xml", "conll": "conll"}


def export(records: list[NoteRecord], out_dir: Path, formats: list[str]) -> dict[str, str]:
    """Write each format under ``out_dir``; returns format -> path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for fmt in formats:
        path = out_dir / f"dataset.{SUFFIX[fmt]}"
        FORMATS[fmt](records, path)
        paths[fmt] = str(path)
    return paths
