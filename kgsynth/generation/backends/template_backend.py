"""The model-free baseline: each fact stated with a lexicon phrasing, in words of context.

This is the kind of generator earlier KG-to-text projects used. It is deterministic for a
seed, needs no model, and is the baseline every quality figure is compared to. Its phrasings
come from the one relation lexicon (``prompts/lexicon.yaml``) and its context words from
``prompts/context.yaml``, so its notes obey the same grammar as the LLM writers'. Its
extraction pass reads the plain text back with the lexicon's statement finder.
"""

from __future__ import annotations

import random

from kgsynth.cypher.instance import InstanceRelation, MotifInstance
from kgsynth.generation.backends.base import Backend, Draft, Extraction
from kgsynth.generation.backends.template_abstract import avoided_words, wrap_statement, write_abstract
from kgsynth.generation.compose import ABSTRACT_MOTIF
from kgsynth.generation.context_words import study_wording
from kgsynth.generation.lexicon import Lexicon, load_lexicon
from kgsynth.generation.mention import mention_sentence
from kgsynth.generation.prompt import Prompt
from kgsynth.generation.record import Entity, NoteRelation
from kgsynth.generation.tags import anaphor_tag, sentence_case, surfaces, tag


def context_line(statement: str, rng: random.Random) -> str:
    """``statement`` (two mentions and a phrase) with clinical words before, after or around it."""
    return sentence_case(wrap_statement(statement, rng, "context.yaml"))


class TemplateBackend(Backend):
    name = "template"
    model = "sentence-templates"

    def __init__(self, lexicon: Lexicon | None = None, **_: object) -> None:
        """Accepts and ignores model options so every backend is built the same way."""
        self.lexicon = lexicon or load_lexicon()

    def decoding(self) -> dict[str, object]:
        return {"method": "template"}

    def write(self, instance: MotifInstance, prompt: Prompt, seed: int) -> Draft:
        rng = random.Random(seed)
        index = {c.id: i for i, c in enumerate(instance.concepts)}
        if instance.motif == ABSTRACT_MOTIF:

            def mention(cid: str) -> str:
                return tag(rng.choice(surfaces(instance.concepts[index[cid]])), index[cid])

            def fact(rel: InstanceRelation, anaphor: tuple[str, str] | None = None) -> str:
                phrasing = rng.choice(self.lexicon.for_fact(instance, rel, prompt.note_type))

                def named(cid: str) -> str:
                    return anaphor_tag(anaphor[1], index[cid]) if anaphor and anaphor[0] == cid else mention(cid)

                return phrasing.sentence(named(rel.subject), named(rel.object))

            return Draft(tagged=write_abstract(instance, prompt, rng, fact, mention))
        lines = [prompt.header] if prompt.header else []
        if instance.single_concept:
            return Draft(tagged="\n".join([*lines, mention_sentence(instance, rng)]))
        # An abstract (a research abstract, e.g. for a fact no chart note fits, or a case report) takes the
        # abstract style's words for its population ("in mice", "in a dose-dependent manner"; a case report
        # no study words), not chart words ("at the last visit", "per the discharge plan").
        study = study_wording(prompt.note_type)
        avoid = avoided_words(prompt.note_type, rng) if study else ()
        for i, rel in enumerate(instance.relations):
            phrasing = rng.choice(self.lexicon.for_fact(instance, rel, prompt.note_type))
            mention = {cid: tag(rng.choice(surfaces(instance.concepts[index[cid]])), index[cid])
                       for cid in (rel.subject, rel.object)}
            statement = phrasing.sentence(mention[rel.subject], mention[rel.object])
            if study:
                groups = {c.group for c in instance.concepts if c.id in (rel.subject, rel.object)}
                lines.append(sentence_case(wrap_statement(statement, rng, "abstract.yaml", avoid, groups, {rel.type},
                                                          lines, first=i == 0)))  # no "Furthermore," first
            else:
                lines.append(context_line(statement, rng))
        return Draft(tagged="\n".join(lines))

    def extract(self, text: str, entities: list[Entity], note_type: str, seed: int) -> Extraction:
        """Every statement the lexicon finds between the note's mentions."""
        found: list[NoteRelation] = []
        for st in self.lexicon.statements(text, entities):
            rel = NoteRelation(subject=st.subject.id, type=st.type, object=st.object.id)
            if rel not in found:
                found.append(rel)
        return Extraction(relations=found)
