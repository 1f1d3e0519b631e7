"""Template wording of a multi-fact ``abstract`` note (see :mod:`kgsynth.generation.compose`).

One sentence per line, 4-10 lines, laid out like a PubMed abstract: a title stating the
anchor fact (research and case-report abstracts; the clinical note types keep their header
line), a background sentence, methods sentences that name unrelated concepts together, one
sentence per fact in research wording, sometimes a sentence without any concept, and a
closing sentence. Every sentence that is not a fact sentence or the title states no
relation (``prompts/abstract.yaml``).

Why this layout: a relation classifier learns whatever separates positive from negative
pairs in its training data. With one verbless sentence per distractor, "shares a sentence"
alone meant "related" (74% of shared-sentence pairs were positive, against 33% in BioRED
train), and the chart words around each fact ("according to the chart") never occur in
BioRED. Methods sentences that co-mention unrelated concepts with a verb, and research
wording, remove both shortcuts; :func:`shape` measures them.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Protocol

from kgsynth.cypher.instance import InstanceRelation, MotifInstance
from kgsynth.generation.compose import distractors
from kgsynth.generation.context_words import avoided_words, fact_context, fitting_templates, template_text
from kgsynth.generation.prompt import Prompt, read_yaml, with_article
from kgsynth.generation.tags import sentence_case


class FactWriter(Protocol):
    """Writes the tagged statement of one fact (a lexicon phrasing between two mentions, no period);
    with ``anaphor`` = ``(concept id, phrase)``, that concept is named by the phrase, tagged as its anaphor."""

    def __call__(self, relation: InstanceRelation, anaphor: tuple[str, str] | None = None) -> str: ...


#: Tags a mention of the concept with this id.
Mention = Callable[[str], str]
MAX_LINES = 10
COHORTS = (24, 38, 52, 67, 85, 120, 146, 210, 312)
#: Follow-up lengths; a note's is tied to its cohort size without being the same number.
WEEKS = (12, 26, 8, 48, 16, 104, 36, 52, 20)
#: How often unrelated concepts are named together (background, methods with three or two
#: concepts, two fact concepts that no fact relates). Chosen so that about as many
#: shared-sentence pairs are unrelated as related (BioRED train: two unrelated per related).
P_BACKGROUND_TWO = 0.8
P_THREE = 0.5
P_TWO = 0.8
P_FACT_PAIR = 0.7
P_FILLER = 0.6
#: How often a fact (not the title's) is stated across two sentences: one that introduces a
#: concept, then the fact with an anaphor for it ("Sequencing revealed p.R491C. This variant was
#: associated with ..."). BioRED train has 14% of its related pairs in no shared sentence; notes
#: with none teach a classifier that "apart" means "unrelated".
P_APART = 0.2


def wrap_statement(statement: str, rng: random.Random, source: str = "abstract.yaml", avoid: Sequence[str] = (),
                   groups: set[str] | frozenset[str] = frozenset(), types: set[str] | frozenset[str] = frozenset(),
                   said: Sequence[str] = (), first: bool = False) -> str:
    """``statement`` with a lead, a tail or both from ``source``'s ``leads``/``tails``, as one sentence.

    ``abstract.yaml`` has research wording; the clinical one is ``context.yaml``. See :func:`context`
    for which leads and tails fit.
    """
    return with_context(statement, *context(rng, source, avoid, groups, types, said, first))


def with_context(statement: str, lead: str, tail: str) -> str:
    """One sentence: ``lead``, ``statement``, ``tail`` (either may be empty) and a period."""
    return f"{lead + ' ' if lead else ''}{statement}{' ' + tail if tail else ''}."


def context(rng: random.Random, source: str = "abstract.yaml", avoid: Sequence[str] = (),
            groups: set[str] | frozenset[str] = frozenset(), types: set[str] | frozenset[str] = frozenset(),
            said: Sequence[str] = (), first: bool = False) -> tuple[str, str]:
    """A lead, a tail or both (the other empty) for a fact sentence, drawn from the leads and tails of
    ``source`` that fit (:func:`~kgsynth.generation.context_words.fact_context`: the note's population
    ``avoid``, the fact's ``groups`` and relation ``types``, nothing the note has ``said``, one setting, no
    connective on the note's ``first`` sentence).
    Without a fitting one, that side stays empty; without a fitting tail, the sentence gets a lead (a line
    of two mentions and a verb alone reads as a bare template).
    """
    fit = fact_context(source, avoid, groups, types, said, first)
    choice = rng.randrange(3)
    leads = list(fit.leads)
    lead = rng.choice(leads) if choice != 1 and leads else ""
    tails = list(fit.tails_after(lead))
    tail = rng.choice(tails) if choice != 0 and tails else ""
    if not lead and not tail and leads:  # no fitting tail (a gene-gene fact in a case report): a lead
        lead = rng.choice(leads)
    return lead, tail


def _fill(template: str, prompt: Prompt, n: int, **mentions: str) -> str:
    demo = prompt.demographics
    weeks = WEEKS[COHORTS.index(n) % len(WEEKS)] if n in COHORTS else WEEKS[0]  # not the cohort's number
    return sentence_case(template.format(age=demo.get("age"), a_age=with_article(demo.get("age", "")),
                                         sex=demo.get("sex"), n=n, weeks=weeks, **mentions))


def pick(templates: Sequence[str | dict], rng: random.Random, groups: set[str], avoid: Sequence[str] = (),
         used: set[str] | None = None) -> str:
    """One of ``templates`` that fits the semantic groups it will name and the note (see ``abstract.yaml``).

    ``avoid`` is the note's :func:`avoided_words`. With ``used`` (the note's sentences so far), a
    template the note has not used yet is preferred, so a note does not say "The work-up covered ..."
    twice; the choice is added to ``used``.
    """
    # None without the note's avoided words fits these groups: one that fits the groups (a sentence is needed).
    fitting = fitting_templates(templates, avoid, groups) or fitting_templates(templates, (), groups)
    if used is not None:
        fitting = [t for t in fitting if t not in used] or fitting
    choice = rng.choice(fitting)
    if used is not None:
        used.add(choice)
    return choice


def _introduce(fact: InstanceRelation, words: dict, rng: random.Random, group_of: dict[str, str], avoid: Sequence[str],
               used: set[str], fill: Callable[[str, str], str],
               introduced: set[str]) -> tuple[str, tuple[str, str]] | None:
    """A sentence naming one concept of ``fact`` alone, and ``(concept id, anaphor phrase)`` to state the fact with.

    None when neither concept's group has an anaphor (``abstract.yaml``: "this gene", "this variant") or
    both were introduced already (a note does not say "We also looked at X." of a concept twice).
    """
    choices = [c for c in (fact.subject, fact.object)
               if group_of.get(c, "") in words["anaphors"] and c not in introduced]
    if not choices or fact.subject == fact.object:
        return None
    concept = rng.choice(choices)
    introduced.add(concept)
    group = group_of[concept]
    intro = fill(pick(words["introductions"], rng, {group}, avoid, used), concept)
    return intro, (concept, rng.choice(words["anaphors"][group]))


def unrelated_pairs(concepts: Sequence[str], related: set[frozenset[str]]) -> list[tuple[str, str]]:
    """Every pair of ``concepts`` that no fact of the note relates."""
    return [(a, b) for i, a in enumerate(concepts) for b in concepts[i + 1 :] if frozenset((a, b)) not in related]


def write_abstract(
    instance: MotifInstance, prompt: Prompt, rng: random.Random, fact_statement: FactWriter, mention: Mention
) -> str:
    """The tagged text of an abstract note: every fact stated, every distractor mentioned."""
    words = read_yaml("abstract.yaml")
    related = {frozenset((r.subject, r.object)) for r in instance.relations}

    group_of = {c.id: c.group for c in instance.concepts}

    def groups(*ids: str) -> set[str]:
        return {group_of[c] for c in ids if c in group_of}

    fact_concepts = list(dict.fromkeys(c for r in instance.relations for c in (r.subject, r.object)))
    extra = [c.id for c in distractors(instance)]
    rng.shuffle(extra)
    n = rng.choice(COHORTS)
    avoid = avoided_words(prompt.note_type, rng)
    used: set[str] = set()  # templates this note has used (a methods sentence is not repeated)
    head: list[str] = []
    title_has_age = False
    titled_fact = None
    if prompt.note_type in words["titled"]:
        titles = words["titles"][prompt.note_type]

        def title_fits(r: InstanceRelation) -> list[str]:
            return fitting_templates(titles, avoid, groups(r.subject, r.object), {r.type})

        # The anchor is the first fact a title fits (a binding gets no "in 120 patients" title).
        anchor = next((r for r in instance.relations if title_fits(r)), instance.relations[0])
        titled_fact = anchor
        template = rng.choice(title_fits(anchor) or [template_text(t) for t in titles])
        title_has_age = "age}" in template
        title = _fill(template, prompt, n, fact="{fact}")
        head.append(sentence_case(title.replace("{fact}", fact_statement(anchor))))
    if prompt.note_type in words["openings"]:
        choices = words["openings"][prompt.note_type]
        if title_has_age:  # the title gave the age: the opening does not repeat it
            choices = words["openings_after_age_title"]
        head.append(_fill(rng.choice(choices), prompt, n))
    # Background: a distractor, maybe with a fact concept it is not related to.
    first = extra.pop(0) if extra else rng.choice(fact_concepts)
    others = [c for c in fact_concepts if frozenset((first, c)) not in related and c != first]
    if others and rng.random() < P_BACKGROUND_TWO:
        background = _fill(pick(words["background_two"], rng, set(), avoid), prompt, n, a=mention(first),
                           b=mention(rng.choice(others)))
    else:
        background = _fill(pick(words["background_one"], rng, set(), avoid), prompt, n, a=mention(first))
    # Methods: the remaining distractors, each named with concepts it is not related to.
    methods: list[str] = []
    pending = list(extra)
    while pending:
        d = pending.pop(0)
        partners = [c for c in [*fact_concepts, *pending] if frozenset((d, c)) not in related]
        rng.shuffle(partners)
        if len(partners) >= 2 and rng.random() < P_THREE and frozenset(partners[:2]) not in related:
            a, b = partners[:2]
            methods.append(_fill(pick(words["co_mention_three"], rng, groups(d, a, b), avoid, used), prompt, n,
                                 a=mention(d), b=mention(a), c=mention(b)))
            pending = [c for c in pending if c not in (a, b)]
        elif partners and rng.random() < P_TWO:
            sentence = pick(words["co_mention"], rng, groups(d, partners[0]), avoid, used)
            methods.append(_fill(sentence, prompt, n, a=mention(d), b=mention(partners[0])))
            pending = [c for c in pending if c != partners[0]]
        else:
            methods.append(_fill(pick(words["distractor"], rng, groups(d), avoid, used), prompt, n, a=mention(d)))
    facts = list(instance.relations)
    rng.shuffle(facts)
    room = MAX_LINES - (len(head) + 1 + len(methods) + len(facts) + 1)
    body: list[str] = []
    introduced: set[str] = set()
    said_context: set[str] = set()  # the body's leads and tails: the lines placed before it do not repeat them
    for r in facts:
        apart = None
        if r is not titled_fact and room > 0 and rng.random() < P_APART:
            apart = _introduce(r, words, rng, group_of, avoid, used, lambda t, a: _fill(t, prompt, n, a=mention(a)),
                               introduced)
        anaphor = None
        if apart is not None:
            intro, anaphor = apart
            body.append(intro)
            room -= 1
        lead, tail = context(rng, avoid=avoid, groups=groups(r.subject, r.object), types={r.type},
                             said=[*head, background, *methods, *body])
        said_context.update(t.lower().rstrip(",") for t in (lead, tail) if t)
        statement = fact_statement(r, anaphor)
        body.append(sentence_case(with_context(statement, lead, tail)))
    closing = _fill(pick(words["conclusion"], rng, set(), avoid), prompt, n, a=mention(rng.choice(fact_concepts)))
    # Optional lines, while the note stays within MAX_LINES: two fact concepts that no fact
    # relates measured together, and a sentence without any concept.
    pairs = unrelated_pairs(fact_concepts, related)
    if pairs and room > 0 and rng.random() < P_FACT_PAIR:
        a, b = rng.choice(pairs)
        sentence = pick(words["co_mention"], rng, groups(a, b), (*avoid, *said_context), used)
        methods.append(_fill(sentence, prompt, n, a=mention(a), b=mention(b)))
        room -= 1
    if room > 0 and rng.random() < P_FILLER:
        methods.append(_fill(pick(words["filler"], rng, set(), avoid), prompt, n))
    return "\n".join([*head, background, *methods, *body, closing])
