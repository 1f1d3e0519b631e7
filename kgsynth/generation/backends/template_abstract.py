"""Template wording of a multi-fact ``abstract`` note (see :mod:`kgsynth.generation.compose`).

One sentence per line, 4-10 lines: an opening that fits the note type, a background
sentence naming one or two concepts, one sentence per fact (the fact templates of the
template backend), a sentence per remaining distractor, sometimes a sentence naming
two concepts that no fact relates, and a closing sentence. Every sentence that is not
a fact sentence is written so that it states no relation (``prompts/abstract.yaml``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from kgsynth.cypher.instance import InstanceRelation, MotifInstance
from kgsynth.generation.compose import distractors
from kgsynth.generation.prompt import Prompt, read_yaml

#: Writes the tagged sentence of one fact (the backend's own fact templates).
FactWriter = Callable[[InstanceRelation], str]
#: Tags a mention of the concept with this id.
Mention = Callable[[str], str]


def _cap(sentence: str) -> str:
    return sentence[0].upper() + sentence[1:] if sentence else sentence


def _opening(prompt: Prompt, rng: random.Random) -> str:
    openings = read_yaml("abstract.yaml")["openings"]
    choices = openings.get(prompt.note_type) or openings["default"]
    demo = prompt.demographics
    return rng.choice(choices).format(age=demo.get("age"), sex=demo.get("sex"),
                                      Note_type=prompt.note_type.capitalize())


def write_abstract(
    instance: MotifInstance, prompt: Prompt, rng: random.Random, fact_sentence: FactWriter, mention: Mention
) -> str:
    """The tagged text of an abstract note: every fact stated once, every distractor mentioned."""
    words = read_yaml("abstract.yaml")
    related = {frozenset((r.subject, r.object)) for r in instance.relations}
    fact_concepts = list(dict.fromkeys(c for r in instance.relations for c in (r.subject, r.object)))
    extra = [c.id for c in distractors(instance)]
    rng.shuffle(extra)
    n = rng.choice([24, 38, 52, 67, 85, 120, 146, 210, 312])
    lines = [_opening(prompt, rng)]
    # Background: a distractor, maybe with a fact concept it is not related to.
    if extra:
        first = extra.pop(0)
        if rng.random() < 0.5:
            other = rng.choice(fact_concepts)
            lines.append(_cap(rng.choice(words["background_two"]).format(a=mention(first), b=mention(other), n=n)))
        else:
            lines.append(_cap(rng.choice(words["background_one"]).format(a=mention(first), n=n)))
    else:
        lines.append(_cap(rng.choice(words["background_one"]).format(a=mention(rng.choice(fact_concepts)), n=n)))
    facts = list(instance.relations)
    rng.shuffle(facts)
    lines += [_cap(fact_sentence(r)) for r in facts]
    lines += [_cap(rng.choice(words["distractor"]).format(a=mention(c))) for c in extra]
    unrelated = [(a, b) for i, a in enumerate(fact_concepts) for b in fact_concepts[i + 1 :]
                 if frozenset((a, b)) not in related]
    if unrelated and len(lines) < 9 and rng.random() < 0.5:
        a, b = rng.choice(unrelated)
        lines.append(_cap(rng.choice(words["co_mention"]).format(a=mention(a), b=mention(b))))
    lines.append(_cap(rng.choice(words["conclusion"]).format(a=mention(rng.choice(fact_concepts)))))
    return "\n".join(lines)
