"""A synthetic typed knowledge graph of any size, for the sampling benchmark and tests.

Average degree stays constant as the graph grows (concept pools scale with the
edge count), which is what "cost must not grow with the graph" is measured against.
"""

from __future__ import annotations

import random

from kgsynth.graph.model import Concept, Relation

#: (type, subject group, object group, share of edges): a CTD/SNOMED-like mix with
#: scarce types (so balancing has work to do) and structural SAME_AS / IS_A edges.
MIX = [
    ("TREATS", "Chemical", "Disease", 0.14),
    ("CAUSES", "Chemical", "Disease", 0.05),
    ("PREVENTS", "Chemical", "Disease", 0.02),
    ("CONTRAINDICATED_FOR", "Chemical", "Disease", 0.02),
    ("HAS_PHENOTYPE", "Disease", "Phenotype", 0.20),
    ("FINDING_SITE", "Disease", "Anatomy", 0.06),
    ("ASSOCIATED_MORPHOLOGY", "Disease", "Anatomy", 0.005),
    ("ASSOCIATED_WITH", "Gene", "Disease", 0.14),
    ("POSITIVE_CORRELATION", "Chemical", "Gene", 0.09),
    ("NEGATIVE_CORRELATION", "Chemical", "Gene", 0.05),
    ("BINDS", "Chemical", "Gene", 0.03),
    ("DRUG_INTERACTION", "Chemical", "Chemical", 0.02),
    ("COTREATMENT", "Chemical", "Chemical", 0.01),
    ("DIAGNOSES", "Procedure", "Disease", 0.02),
    ("PART_OF", "Anatomy", "Anatomy", 0.02),
    ("RELATED_TO", "Disease", "Disease", 0.02),
    ("SAME_AS", "Disease", "Disease", 0.02),
    ("IS_A", "Disease", "Disease", 0.095),
]
#: Concepts per group per edge: average degree stays constant as the graph grows.
NODES_PER_EDGE = {
    "Chemical": 0.04,
    "Disease": 0.05,
    "Gene": 0.04,
    "Phenotype": 0.04,
    "Anatomy": 0.01,
    "Procedure": 0.005,
}


def synthetic_graph(edges: int, seed: int = 7) -> tuple[list[Concept], list[Relation]]:
    """A random typed graph with ``edges`` distinct edges and constant average degree."""
    rng = random.Random(seed)
    pools = {g: [f"SYN:{g[:3]}{i}" for i in range(max(10, int(edges * f)))] for g, f in NODES_PER_EDGE.items()}
    concepts = [
        Concept(id=cid, name=f"{g.lower()} {cid[4:]}", group=g, synonyms=[f"{cid[4:]}-syn"])
        for g, ids in pools.items()
        for cid in ids
    ]
    seen: set[tuple[str, str, str]] = set()
    relations = []
    for type_, ga, gb, share in MIX:
        want = int(edges * share)
        while want:
            s, o = rng.choice(pools[ga]), rng.choice(pools[gb])
            if s != o and (s, type_, o) not in seen:
                seen.add((s, type_, o))
                relations.append(Relation(subject=s, type=type_, object=o))
                want -= 1
    # Planted chemical-gene-disease triangles (random graphs of constant degree have
    # almost none), 1% of the edges.
    for _ in range(int(edges * 0.01 / 3)):
        c, g, d = rng.choice(pools["Chemical"]), rng.choice(pools["Gene"]), rng.choice(pools["Disease"])
        for triple in ((c, "POSITIVE_CORRELATION", g), (c, "TREATS", d), (g, "ASSOCIATED_WITH", d)):
            if triple not in seen:
                seen.add(triple)
                relations.append(Relation(subject=triple[0], type=triple[1], object=triple[2]))
    return concepts, relations
