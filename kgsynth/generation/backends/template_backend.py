"""The model-free baseline: one sentence template per fact (``prompts/sentences.yaml``).

This is the kind of generator earlier KG-to-text projects used. It is deterministic
for a seed, needs no model, and is the baseline every quality figure is compared to.
Its extraction pass is an independent parser: it inverts the same templates into
regular expressions and matches them against the plain text.
"""

from __future__ import annotations

import random
import re
from functools import cache

from kgsynth.cypher.instance import MotifInstance
from kgsynth.generation.backends.base import Backend, Draft, Extraction
from kgsynth.generation.prompt import Prompt, read_yaml
from kgsynth.generation.record import Entity, NoteRelation
from kgsynth.generation.tags import mention_surface, surfaces, tag


def _templates() -> dict[str, list[str]]:
    return read_yaml("sentences.yaml")


@cache
def _patterns() -> list[tuple[str, re.Pattern[str]]]:
    """Each template as a regex with named groups for its two mentions."""
    out = []
    for rtype, templates in _templates().items():
        for template in templates:
            pieces = re.split(r"(\{subject\}|\{object\})", template)
            regex = "".join(
                "(?P<subject>.+?)" if p == "{subject}" else "(?P<object>.+?)" if p == "{object}" else re.escape(p)
                for p in pieces
            )
            out.append((rtype, re.compile(regex)))
    return out


def _mention_sentence(instance: MotifInstance, rng: random.Random) -> str:
    """One sentence naming the single concept as its ``mention`` (``prompts/mentions.yaml``)."""
    templates = read_yaml("mentions.yaml")
    concept = instance.concepts[0]
    template = rng.choice(templates.get(concept.group) or templates["Other"])
    sentence = template.format(concept=tag(mention_surface(instance), 0))
    return sentence[0].upper() + sentence[1:] if not sentence.startswith("[[") else sentence


class TemplateBackend(Backend):
    name = "template"
    model = "sentence-templates"

    def __init__(self, **_: object) -> None:
        """Accepts and ignores model options so every backend is built the same way."""

    def decoding(self) -> dict[str, object]:
        return {"method": "template"}

    def write(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        rng = random.Random(seed)
        index = {c.id: i for i, c in enumerate(instance.concepts)}
        demo = prompt.demographics
        lines = [f"{prompt.note_type.capitalize()}: {demo.get('age')}-year-old {demo.get('sex')} patient."]
        if instance.single_concept:
            return Draft(tagged="\n".join([*lines, _mention_sentence(instance, rng)]))
        templates = _templates()
        for rel in instance.relations:
            template = rng.choice(templates.get(rel.type) or templates["RELATED_TO"])
            mention = {}
            for role, cid in (("subject", rel.subject), ("object", rel.object)):
                concept = instance.concepts[index[cid]]
                mention[role] = tag(rng.choice(surfaces(concept)), index[cid])
            sentence = template.format(**mention)
            lines.append(sentence[0].upper() + sentence[1:])
        return Draft(tagged="\n".join(lines))

    def extract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        """Match each line against every inverted template; keep matches whose groups are entities."""
        found: list[NoteRelation] = []
        offset = 0
        for line in text.split("\n"):
            by_span = {(e.start - offset, e.end - offset): e.id for e in entities}
            for rtype, pattern in _patterns():
                m = pattern.fullmatch(line)
                if not m:
                    continue
                subj, obj = by_span.get(m.span("subject")), by_span.get(m.span("object"))
                if subj and obj:
                    rel = NoteRelation(subject=subj, type=rtype, object=obj)
                    if rel not in found:
                        found.append(rel)
            offset += len(line) + 1
        return Extraction(relations=found)
