// Motif matching and the sample-key index behind kgsynth.cypher.sampling.
//
// Every motif is matched from an ANCHOR relationship of one type (__TYPE__, filled
// from the allowlist). Each fact relationship carries `sk`, a 32-bit hash of
// "subject|TYPE|object" computed in Python, with a range index per type. A query
// reads the anchors whose sk lies in the window [$lo, $hi): an index range seek,
// so its cost depends on the window, never on the size of the graph. Python moves
// the window round the ring of sk values from a seeded start.
//
// Extension edges are chosen by rank = (e.sk + r.sk + $salt) mod 2^32: seeded,
// different for each anchor, and computed identically by the embedded matcher.
// Groups, types and counts are $parameters; only the anchor type is text.

// name: sample_key_index
CREATE INDEX IF NOT EXISTS FOR ()-[r:__TYPE__]-() ON (r.sk)

// name: sample_key_missing
// Relationships of one type that have no sample key yet (new since the last run).
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WHERE r.sk IS NULL
RETURN elementId(r) AS eid, a.id AS subject, b.id AS object

// name: sample_key_set
UNWIND $rows AS row
MATCH ()-[r]->() WHERE elementId(r) = row.eid
SET r.sk = row.sk

// name: sample_key_state
// How many relationships of each type had keys at the last indexing run.
MATCH (s:SampleIndex)
RETURN s.type AS type, s.edges AS edges

// name: sample_key_mark
MERGE (s:SampleIndex {type: $type})
SET s.edges = $edges

// name: await_indexes
CALL db.awaitIndexes(600)

// name: match_edge
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WHERE r.sk >= $lo AND r.sk < $hi AND a.group IN $groups_a AND b.group IN $groups_b AND a <> b
RETURN r.sk AS sk,
       [a.id, coalesce(a.name, ''), coalesce(a.group, 'Other'), coalesce(a.synonyms, []), coalesce(a.xrefs, [])] AS a,
       [b.id, coalesce(b.name, ''), coalesce(b.group, 'Other'), coalesce(b.synonyms, []), coalesce(b.xrefs, [])] AS b,
       [a.id, type(r), b.id, coalesce(r.evidence, []), coalesce(r.source_labels, []), coalesce(r.provenance, []), coalesce(r.novelty, "")] AS r,
       [] AS arm1, [] AS arm2
ORDER BY sk, a[0], b[0]

// name: match_tree1
// Anchor plus one arm: path (arm from the anchor object) and star (arm from the hub).
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WHERE r.sk >= $lo AND r.sk < $hi AND a.group IN $groups_a AND b.group IN $groups_b AND a <> b
CALL (a, b, r) {
  WITH a, b, r, CASE WHEN $arm1.from_subject THEN a ELSE b END AS h
  MATCH (h)-[e]-(y:Concept)
  WHERE y <> a AND y <> b AND type(e) IN $arm1.types AND y.group IN $arm1.groups
    AND ((startNode(e) = h AND $arm1.out) OR (endNode(e) = h AND $arm1.in))
  WITH y, e, (e.sk + r.sk + $salt) % 4294967296 AS rank
  ORDER BY rank, y.id, e.sk
  WITH y, collect({e: e, rank: rank, sk: e.sk})[0] AS best
  ORDER BY best.rank, y.id
  LIMIT $max1
  WITH y, best.e AS e
  RETURN collect([
    [y.id, coalesce(y.name, ''), coalesce(y.group, 'Other'), coalesce(y.synonyms, []), coalesce(y.xrefs, [])],
    [startNode(e).id, type(e), endNode(e).id, coalesce(e.evidence, []), coalesce(e.source_labels, []), coalesce(e.provenance, []), coalesce(e.novelty, "")]
  ]) AS arm1
}
WITH a, b, r, arm1 WHERE size(arm1) >= $min1
RETURN r.sk AS sk,
       [a.id, coalesce(a.name, ''), coalesce(a.group, 'Other'), coalesce(a.synonyms, []), coalesce(a.xrefs, [])] AS a,
       [b.id, coalesce(b.name, ''), coalesce(b.group, 'Other'), coalesce(b.synonyms, []), coalesce(b.xrefs, [])] AS b,
       [a.id, type(r), b.id, coalesce(r.evidence, []), coalesce(r.source_labels, []), coalesce(r.provenance, []), coalesce(r.novelty, "")] AS r,
       arm1, [] AS arm2
ORDER BY sk, a[0], b[0]

// name: match_tree2
// Anchor plus two arms: the patient bundle (symptoms and a finding site of the disease).
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WHERE r.sk >= $lo AND r.sk < $hi AND a.group IN $groups_a AND b.group IN $groups_b AND a <> b
CALL (a, b, r) {
  WITH a, b, r, CASE WHEN $arm1.from_subject THEN a ELSE b END AS h
  MATCH (h)-[e]-(y:Concept)
  WHERE y <> a AND y <> b AND type(e) IN $arm1.types AND y.group IN $arm1.groups
    AND ((startNode(e) = h AND $arm1.out) OR (endNode(e) = h AND $arm1.in))
  WITH y, e, (e.sk + r.sk + $salt) % 4294967296 AS rank
  ORDER BY rank, y.id, e.sk
  WITH y, collect({e: e, rank: rank, sk: e.sk})[0] AS best
  ORDER BY best.rank, y.id
  LIMIT $max1
  WITH y, best.e AS e
  RETURN collect([
    [y.id, coalesce(y.name, ''), coalesce(y.group, 'Other'), coalesce(y.synonyms, []), coalesce(y.xrefs, [])],
    [startNode(e).id, type(e), endNode(e).id, coalesce(e.evidence, []), coalesce(e.source_labels, []), coalesce(e.provenance, []), coalesce(e.novelty, "")]
  ]) AS arm1
}
WITH a, b, r, arm1 WHERE size(arm1) >= $min1
CALL (a, b, r) {
  WITH a, b, r, CASE WHEN $arm2.from_subject THEN a ELSE b END AS h
  MATCH (h)-[e]-(y:Concept)
  WHERE y <> a AND y <> b AND type(e) IN $arm2.types AND y.group IN $arm2.groups
    AND ((startNode(e) = h AND $arm2.out) OR (endNode(e) = h AND $arm2.in))
  WITH y, e, (e.sk + r.sk + $salt) % 4294967296 AS rank
  ORDER BY rank, y.id, e.sk
  WITH y, collect({e: e, rank: rank, sk: e.sk})[0] AS best
  ORDER BY best.rank, y.id
  LIMIT $max2
  WITH y, best.e AS e
  RETURN collect([
    [y.id, coalesce(y.name, ''), coalesce(y.group, 'Other'), coalesce(y.synonyms, []), coalesce(y.xrefs, [])],
    [startNode(e).id, type(e), endNode(e).id, coalesce(e.evidence, []), coalesce(e.source_labels, []), coalesce(e.provenance, []), coalesce(e.novelty, "")]
  ]) AS arm2
}
WITH a, b, r, arm1, arm2 WHERE size(arm2) >= $min2
RETURN r.sk AS sk,
       [a.id, coalesce(a.name, ''), coalesce(a.group, 'Other'), coalesce(a.synonyms, []), coalesce(a.xrefs, [])] AS a,
       [b.id, coalesce(b.name, ''), coalesce(b.group, 'Other'), coalesce(b.synonyms, []), coalesce(b.xrefs, [])] AS b,
       [a.id, type(r), b.id, coalesce(r.evidence, []), coalesce(r.source_labels, []), coalesce(r.provenance, []), coalesce(r.novelty, "")] AS r,
       arm1, arm2
ORDER BY sk, a[0], b[0]

// name: match_triangle
// Anchor (a)-[r]->(b) closed by one concept c related to both.
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WHERE r.sk >= $lo AND r.sk < $hi AND a.group IN $groups_a AND b.group IN $groups_b AND a <> b
CALL (a, b, r) {
  MATCH (a)-[e2]-(c:Concept)-[e3]-(b)
  WHERE c <> a AND c <> b AND c.group IN $tri.groups
    AND type(e2) IN $tri.types2 AND ((startNode(e2) = a AND $tri.out2) OR (endNode(e2) = a AND $tri.in2))
    AND type(e3) IN $tri.types3 AND ((startNode(e3) = b AND $tri.out3) OR (endNode(e3) = b AND $tri.in3))
  WITH c, e2, e3 ORDER BY (e2.sk + e3.sk + r.sk + $salt) % 4294967296, c.id, e2.sk, e3.sk
  LIMIT 1
  RETURN [
    [[c.id, coalesce(c.name, ''), coalesce(c.group, 'Other'), coalesce(c.synonyms, []), coalesce(c.xrefs, [])],
     [startNode(e2).id, type(e2), endNode(e2).id, coalesce(e2.evidence, []), coalesce(e2.source_labels, []), coalesce(e2.provenance, []), coalesce(e2.novelty, "")]],
    [null,
     [startNode(e3).id, type(e3), endNode(e3).id, coalesce(e3.evidence, []), coalesce(e3.source_labels, []), coalesce(e3.provenance, []), coalesce(e3.novelty, "")]]
  ] AS arm1
}
RETURN r.sk AS sk,
       [a.id, coalesce(a.name, ''), coalesce(a.group, 'Other'), coalesce(a.synonyms, []), coalesce(a.xrefs, [])] AS a,
       [b.id, coalesce(b.name, ''), coalesce(b.group, 'Other'), coalesce(b.synonyms, []), coalesce(b.xrefs, [])] AS b,
       [a.id, type(r), b.id, coalesce(r.evidence, []), coalesce(r.source_labels, []), coalesce(r.provenance, []), coalesce(r.novelty, "")] AS r,
       arm1, [] AS arm2
ORDER BY sk, a[0], b[0]

// name: count_from_label
// Count-store lookups (constant time): anchors per subject group, for entity balance.
MATCH (:__LABEL__)-[r:__TYPE__]->()
RETURN count(r) AS n

// name: count_to_label
MATCH ()-[r:__TYPE__]->(:__LABEL__)
RETURN count(r) AS n
