"""Multi-fact notes with distractors: one job's instance grown into an abstract's worth of content.

A one-fact note teaches a relation classifier that "two tagged names in one short text
are related". Real abstracts mention many concepts and relate few pairs. So for the
``abstract`` note style each job's anchor instance gets

- companion facts: other sampled facts that share a concept with the anchor's
  (the KG neighbourhood the anchor sits in), stated in the note as relations;
- distractor concepts: concepts two steps away in the sampled graph (neighbours of
  the note's concepts' neighbours) that no sampled fact links to any concept of the
  note. They are mentioned without a relation, so the note has unrelated pairs.

Only the instance file is used (generation never queries the graph), so "unrelated"
means "no sampled fact relates them": sample every fact of a small KG (``--n`` above
its edge count) to make that the graph's own answer. Composition is seeded by the
job, so a job always composes the same note content.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence

from kgsynth.cypher.instance import InstanceConcept, InstanceRelation, MotifInstance, instance_id

ABSTRACT_MOTIF = "abstract"
DISTRACTOR_SLOT = "distractor"
#: Groups distractors are drawn from first (the ones relation extraction pairs); others only as a fallback.
PREFERRED_GROUPS: tuple[str, ...] = ("Gene", "Disease", "Chemical", "Variant")


def distractors(instance: MotifInstance) -> list[InstanceConcept]:
    """The concepts of a composed instance that no fact of it mentions."""
    related = {c for r in instance.relations for c in (r.subject, r.object)}
    return [c for c in instance.concepts if c.id not in related]


class Composer:
    """Builds composed instances from a pool of sampled instances (the run's instance file)."""

    def __init__(self, pool: Sequence[MotifInstance]) -> None:
        self.concepts: dict[str, InstanceConcept] = {}
        self.facts: dict[tuple[str, str, str], InstanceRelation] = {}
        self.neighbours: dict[str, set[str]] = {}
        self.facts_of: dict[str, list[tuple[str, str, str]]] = {}
        for inst in pool:
            for c in inst.concepts:
                self.concepts.setdefault(c.id, c)
            for r in inst.relations:
                key = (r.subject, r.type, r.object)
                if key in self.facts:
                    continue
                self.facts[key] = r
                for a, b in ((r.subject, r.object), (r.object, r.subject)):
                    self.neighbours.setdefault(a, set()).add(b)
                    self.facts_of.setdefault(a, []).append(key)

    def compose(
        self,
        anchor: MotifInstance,
        rng: random.Random,
        companions: tuple[int, int] = (1, 2),
        n_distractors: tuple[int, int] = (2, 4),
        max_facts: int = 3,
    ) -> MotifInstance:
        """The anchor's facts plus companion facts and distractor concepts (counts drawn from the ranges).

        Companions stop at ``max_facts`` facts in all, which keeps abstract notes at 4-10 sentences;
        a companion that would bring in more (every sampled fact between the note's concepts is
        stated) is skipped.
        """
        relations = list(anchor.relations)
        concepts = {c.id: c for c in anchor.concepts}
        keys = {(r.subject, r.type, r.object) for r in relations}
        candidates = sorted({k for c in concepts for k in self.facts_of.get(c, []) if k not in keys})
        rng.shuffle(candidates)
        wanted = rng.randint(*companions)
        added = 0
        for key in candidates:
            if added >= wanted:
                break
            if key in keys:
                continue
            # Every sampled fact among the note's concepts is stated, so no related pair is left unstated.
            ids = set(concepts) | {key[0], key[2]}
            closure = sorted({k for c in ids for k in self.facts_of.get(c, [])
                              if k[0] in ids and k[2] in ids and k not in keys})
            if len(relations) + len(closure) > max_facts:
                continue
            for k in closure:
                relations.append(self.facts[k])
                keys.add(k)
                for cid in (k[0], k[2]):
                    concepts.setdefault(cid, self.concepts[cid])
            added += 1
        near = set(concepts) | {n for c in concepts for n in self.neighbours.get(c, ())}
        two_hop = sorted({m for c in concepts for n in self.neighbours.get(c, ()) for m in self.neighbours.get(n, ())}
                         - near)
        preferred = [c for c in two_hop if self.concepts[c].group in PREFERRED_GROUPS]
        pool = preferred or two_hop
        if not pool:  # an isolated fact: any concept the sample does not link to the note
            pool = sorted(c for c in self.concepts if c not in near and self.concepts[c].group in PREFERRED_GROUPS)
        rng.shuffle(pool)
        chosen = pool[: rng.randint(*n_distractors)]
        out = [c.model_copy(update={"slot": c.slot if i < len(anchor.concepts) else f"companion{i}"})
               for i, c in enumerate(concepts.values())]
        out += [self.concepts[c].model_copy(update={"slot": f"{DISTRACTOR_SLOT}{i + 1}"}) for i, c in enumerate(chosen)]
        base = instance_id(ABSTRACT_MOTIF, relations)
        digest = hashlib.sha1("|".join([base, *chosen]).encode("utf-8")).hexdigest()[:16]
        return MotifInstance(id=f"{ABSTRACT_MOTIF}-{digest}", motif=ABSTRACT_MOTIF, stratum=anchor.stratum,
                             concepts=out, relations=relations)
