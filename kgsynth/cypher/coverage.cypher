// Coverage of the knowledge graph by generated notes.
//
// Notes are written back as
//   (:Note {id, note_type, dataset, motif})-[:MENTIONS {start, end, text}]->(:Concept)
//   (:Note)-[:EXPRESSES]->(:Fact {key, subject, type, object, in_graph})
// A Fact node stands for one KG relationship "subject|TYPE|object" (a relationship
// cannot be the end of another relationship); in_graph says whether the KG has it.
//
// The queries named cov_* can be pasted into Neo4j Browser as they are. Those with
// $top need the parameter first, e.g.   :param top => 25
// `kgsynth coverage` runs the very same queries.

// name: schema_fact_key
CREATE CONSTRAINT fact_key IF NOT EXISTS FOR (f:Fact) REQUIRE f.key IS UNIQUE

// name: write_notes
// One batch of notes; re-writing a note changes nothing (everything is MERGEd).
UNWIND $rows AS row
MERGE (n:Note {id: row.id})
SET n.note_type = row.note_type, n.dataset = row.dataset, n.motif = row.motif
WITH n, row
CALL (n, row) {
  UNWIND row.mentions AS m
  MATCH (c:Concept {id: m.concept_id})
  MERGE (n)-[x:MENTIONS {start: m.start, end: m.end}]->(c)
  SET x.text = m.text
}
CALL (n, row) {
  UNWIND row.facts AS f
  MERGE (fact:Fact {key: f.key})
  ON CREATE SET fact.subject = f.subject, fact.type = f.type, fact.object = f.object
  SET fact.in_graph = EXISTS {
    MATCH (:Concept {id: f.subject})-[r]->(:Concept {id: f.object}) WHERE type(r) = f.type
  }
  MERGE (n)-[:EXPRESSES]->(fact)
}

// name: cov_notes_per_motif
// How many notes were written from each motif.
MATCH (n:Note)
RETURN coalesce(n.motif, '') AS motif, count(*) AS notes
ORDER BY notes DESC, motif

// name: cov_notes_per_type
// Notes per note type (discharge summary, radiology report, ...) and dataset.
MATCH (n:Note)
RETURN coalesce(n.note_type, '') AS note_type, coalesce(n.dataset, '') AS dataset, count(*) AS notes
ORDER BY notes DESC, note_type, dataset

// name: cov_relation_types
// Relation types covered: how often notes express them and how many distinct KG facts.
MATCH (:Note)-[:EXPRESSES]->(f:Fact)
RETURN f.type AS type, count(*) AS expressions, count(DISTINCT f) AS facts,
       count(DISTINCT CASE WHEN f.in_graph THEN f END) AS facts_in_graph
ORDER BY expressions DESC, type

// name: cov_balance
// Balance per relation type: each type's share of the most expressed one, and max/min.
MATCH (:Note)-[:EXPRESSES]->(f:Fact)
WITH f.type AS type, count(*) AS n
WITH collect({type: type, n: n}) AS rows, max(n) AS most, min(n) AS least
UNWIND rows AS row
RETURN row.type AS type, row.n AS expressions, round(toFloat(row.n) / most, 3) AS share_of_max,
       round(toFloat(most) / least, 3) AS max_min_ratio
ORDER BY expressions DESC, type

// name: cov_concept_totals
// Concepts in the graph, concepts mentioned by at least one note, and mentions.
MATCH (c:Concept)
WITH count(c) AS concepts
OPTIONAL MATCH (:Note)-[m:MENTIONS]->(c:Concept)
RETURN concepts, count(DISTINCT c) AS covered, count(m) AS mentions

// name: cov_concepts_covered
// The most mentioned concepts.
MATCH (n:Note)-[m:MENTIONS]->(c:Concept)
RETURN c.id AS id, c.name AS name, c.group AS group, count(m) AS mentions, count(DISTINCT n) AS notes
ORDER BY mentions DESC, id
LIMIT $top

// name: cov_uncovered_high_degree
// Concepts no note mentions, most connected first: where the next notes should go.
MATCH (c:Concept)
WHERE NOT EXISTS { (c)<-[:MENTIONS]-(:Note) }
WITH c, COUNT { (c)-->(:Concept) } + COUNT { (c)<--(:Concept) } AS degree
ORDER BY degree DESC, c.id
LIMIT $top
RETURN c.id AS id, c.name AS name, c.group AS group, degree
