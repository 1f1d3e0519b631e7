"""Grounding checks of a note's entities: is each mention a name of its concept, and of its type?

A mention is grounded when it is (case-, dash- and space-insensitively, singular or plural) a name
or synonym of its concept as the graph or the sampled instance gives it, of a SAME_AS-equivalent
concept, or a written form the generator's own rules derive from those names
(:mod:`kgsynth.generation.written_forms`). Split from :mod:`kgsynth.evaluation.check`, which runs it
beside the fact checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import TYPE_CHECKING

from kgsynth.evaluation.convert import concept_ids
from kgsynth.generation.record import NoteRecord

if TYPE_CHECKING:
    from kgsynth.evaluation.check import GraphView, NoteCheck


def normalize_name(text: str) -> str:
    """Case-insensitive, dash- and space-insensitive surface form."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    text = re.sub(r"\s+", " ", text).strip(" .,;:()[]\"'")
    return text


def _forms(names: Iterable[str]) -> set[str]:
    forms = set()
    for name in names:
        n = normalize_name(name)
        if n:
            forms.add(n)
            forms.add(n.replace("'s ", " ").replace("’s ", " "))
            if len(n) > 3 and n.endswith("s"):
                forms.add(n[:-1])
    return forms


def check_entities(record: NoteRecord, graph: GraphView, result: NoteCheck) -> None:
    """Fill ``result``'s unknown-concept, ungrounded and type-mismatch lists for the note's entities."""
    instance = {c.id: c for c in record.instance.concepts} if record.instance else {}
    all_ids = [cid for e in record.entities for cid in concept_ids(e)]
    known = graph.concepts(all_ids)
    for e in record.entities:
        ids = concept_ids(e)
        if not ids:
            result.unknown_concepts.append(f"{e.id} {e.text!r}: no concept id")
            continue
        names: list[str] = []
        groups: set[str] = set()
        for cid in ids:
            concept, sampled = known.get(cid), instance.get(cid)
            if concept is None and sampled is None:
                result.unknown_concepts.append(f"{e.id} {e.text!r}: {cid} is not in the graph")
                continue
            if concept is not None:
                names += concept.names()
                groups.add(concept.group)
            if sampled is not None:
                names += [sampled.name, *sampled.synonyms]
                groups.add(sampled.group)
        if not names and not groups:
            continue
        mention = normalize_name(e.text)
        if mention not in _forms(names):
            equivalent = graph.concepts([x for cid in ids for x in graph.equivalents(cid)])
            more = [n for c in equivalent.values() if c is not None for n in c.names()]
            names += more
            forms = _forms(names)
            if mention not in forms and _singular(mention) not in forms and mention not in _written(names, groups):
                result.ungrounded.append(f"{e.id} {e.text!r} -> {','.join(ids)}")
        specific = groups - {"Other"}
        if specific and e.type not in specific:
            result.type_mismatches.append(
                f"{e.id} {e.text!r}: type {e.type}, concept group {'/'.join(sorted(specific))}"
            )


def _written(names: list[str], groups: set[str]) -> set[str]:
    """Written forms of ``names`` ("liver tumors" for "Neoplasms, Hepatic"): the generator's own rules."""
    from kgsynth.generation.written_forms import forms_of_names

    return {normalize_name(f) for g in groups or {"Other"} for f in forms_of_names(names, g)}


def _singular(text: str) -> str:
    return text[:-1] if len(text) > 3 and text.endswith("s") else text
