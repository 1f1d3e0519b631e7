// Coverage sampling (kgsynth.cypher.cover): the concepts of a slice, and the facts
// each of them takes part in. Groups, prefixes, ids and types are $parameters.
// A node row is [id, name, group, synonyms, xrefs], a relation row
// [subject, type, object, evidence, source_labels, provenance], as in motifs.cypher.

// name: cover_concepts
// Concepts of the given groups ($groups null: any) whose id starts with $prefix ('' : any).
MATCH (c:Concept)
WHERE ($groups IS NULL OR coalesce(c.group, 'Other') IN $groups) AND c.id STARTS WITH $prefix
RETURN [c.id, coalesce(c.name, ''), coalesce(c.group, 'Other'), coalesce(c.synonyms, []),
        coalesce(c.xrefs, [])] AS node
ORDER BY c.id

// name: cover_nodes
// The node rows of the concepts with these ids (missing ids give no row).
UNWIND $ids AS id
MATCH (c:Concept {id: id})
RETURN [c.id, coalesce(c.name, ''), coalesce(c.group, 'Other'), coalesce(c.synonyms, []),
        coalesce(c.xrefs, [])] AS node
ORDER BY c.id

// name: cover_children
// Direct IS_A children of these concepts (one level of a subtree; Python walks the levels).
UNWIND $ids AS id
MATCH (c:Concept)-[:IS_A]->(:Concept {id: id})
RETURN DISTINCT c.id AS id

// name: cover_facts
// Every fact of the given types that touches one of these concepts (self-loops left out).
UNWIND $ids AS id
MATCH (c:Concept {id: id})-[r]-(o:Concept)
WHERE type(r) IN $types AND o <> c
WITH DISTINCT r, startNode(r) AS a, endNode(r) AS b
RETURN [a.id, coalesce(a.name, ''), coalesce(a.group, 'Other'), coalesce(a.synonyms, []), coalesce(a.xrefs, [])] AS a,
       [b.id, coalesce(b.name, ''), coalesce(b.group, 'Other'), coalesce(b.synonyms, []), coalesce(b.xrefs, [])] AS b,
       [a.id, type(r), b.id, coalesce(r.evidence, []), coalesce(r.source_labels, []), coalesce(r.provenance, [])] AS r
