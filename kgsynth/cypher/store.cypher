// Queries behind kgsynth.graph.neo4j_store.Neo4jStore.
// Upsert rule (same as MemoryStore): lists gain new items in order, the first
// non-empty name and novelty stay, a specific group replaces 'Other'.

// name: schema_concept_id
CREATE CONSTRAINT concept_id IF NOT EXISTS FOR (c:Concept) REQUIRE c.id IS UNIQUE

// name: schema_concept_name
CREATE INDEX concept_name IF NOT EXISTS FOR (c:Concept) ON (c.name)

// name: schema_concept_group
CREATE INDEX concept_group IF NOT EXISTS FOR (c:Concept) ON (c.group)

// name: schema_note_id
CREATE CONSTRAINT note_id IF NOT EXISTS FOR (n:Note) REQUIRE n.id IS UNIQUE

// name: upsert_concepts
// Rows of one group per call: __LABEL__ is that group (never 'Other').
UNWIND $rows AS row
MERGE (c:Concept {id: row.id})
SET c.name = CASE WHEN coalesce(c.name, '') = '' THEN row.name ELSE c.name END,
    c.group = CASE WHEN coalesce(c.group, 'Other') = 'Other' THEN row.group ELSE c.group END,
    c.synonyms = coalesce(c.synonyms, []) + [x IN row.synonyms WHERE NOT x IN coalesce(c.synonyms, [])],
    c.semantic_types = coalesce(c.semantic_types, []) + [x IN row.semantic_types WHERE NOT x IN coalesce(c.semantic_types, [])],
    c.xrefs = coalesce(c.xrefs, []) + [x IN row.xrefs WHERE NOT x IN coalesce(c.xrefs, [])],
    c.provenance = coalesce(c.provenance, []) + [x IN row.provenance WHERE NOT x IN coalesce(c.provenance, [])]
WITH c, row WHERE c.group = row.group
SET c:__LABEL__

// name: upsert_concepts_other
UNWIND $rows AS row
MERGE (c:Concept {id: row.id})
SET c.name = CASE WHEN coalesce(c.name, '') = '' THEN row.name ELSE c.name END,
    c.group = coalesce(c.group, 'Other'),
    c.synonyms = coalesce(c.synonyms, []) + [x IN row.synonyms WHERE NOT x IN coalesce(c.synonyms, [])],
    c.semantic_types = coalesce(c.semantic_types, []) + [x IN row.semantic_types WHERE NOT x IN coalesce(c.semantic_types, [])],
    c.xrefs = coalesce(c.xrefs, []) + [x IN row.xrefs WHERE NOT x IN coalesce(c.xrefs, [])],
    c.provenance = coalesce(c.provenance, []) + [x IN row.provenance WHERE NOT x IN coalesce(c.provenance, [])]

// name: merge_endpoints
// Only run when upsert_relations found a missing endpoint: it becomes a bare concept.
UNWIND $ids AS id
MERGE (c:Concept {id: id})
  ON CREATE SET c.group = 'Other', c.name = ''

// name: upsert_relations
// Relations of one type per call, grouped by their property values: each group is
// {props, source_labels, evidence, novelty, provenance, pairs: [[subject, object], ...]}
// and no (subject, object) pair occurs twice in a call (the caller merges those first),
// so the order rows are applied in cannot change the result. Sending the shared
// properties once per group instead of once per row cut parameter decoding on the
// server and packing in Python. Endpoints are MATCHed (an index seek, about twice
// as fast as MERGE); the caller compares `written` with the pair count and, if an
// endpoint was missing, merges the endpoints and runs the call again (an upsert, so
// pairs written the first time stay as they are). A new edge gets only the non-empty
// properties (`props`; readers coalesce absent ones to empty), an existing one pays
// for the list union.
UNWIND $groups AS g
UNWIND g.pairs AS pair
MATCH (a:Concept {id: pair[0]})
MATCH (b:Concept {id: pair[1]})
MERGE (a)-[r:__TYPE__]->(b)
  ON CREATE SET r = g.props
  ON MATCH SET r.novelty = CASE WHEN coalesce(r.novelty, '') = '' THEN g.novelty ELSE r.novelty END,
    r.source_labels = coalesce(r.source_labels, []) + [x IN g.source_labels WHERE NOT x IN coalesce(r.source_labels, [])],
    r.evidence = coalesce(r.evidence, []) + [x IN g.evidence WHERE NOT x IN coalesce(r.evidence, [])],
    r.provenance = coalesce(r.provenance, []) + [x IN g.provenance WHERE NOT x IN coalesce(r.provenance, [])]
RETURN count(r) AS written

// name: get_concepts
UNWIND $ids AS id
MATCH (c:Concept {id: id})
RETURN c

// name: relations_from
MATCH (a:Concept {id: $subject})-[r]->(b:Concept)
WHERE ($object IS NULL OR b.id = $object) AND ($type IS NULL OR type(r) = $type)
RETURN a.id AS subject, type(r) AS type, b.id AS object, properties(r) AS props

// name: relations_to
MATCH (a:Concept)-[r]->(b:Concept {id: $object})
WHERE ($type IS NULL OR type(r) = $type)
RETURN a.id AS subject, type(r) AS type, b.id AS object, properties(r) AS props

// name: relations_of_type
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
RETURN a.id AS subject, type(r) AS type, b.id AS object, properties(r) AS props

// name: all_concepts
MATCH (c:Concept)
RETURN c ORDER BY c.id

// name: all_relations
MATCH (a:Concept)-[r]->(b:Concept)
RETURN a.id AS subject, type(r) AS type, b.id AS object, properties(r) AS props
ORDER BY subject, type, object

// name: count_concepts_by_group
MATCH (c:Concept)
RETURN coalesce(c.group, 'Other') AS key, count(*) AS n

// name: count_relations_of_type
// Answered from the count store: constant time whatever the graph size.
MATCH ()-[r:__TYPE__]->()
RETURN count(r) AS n

// name: clear_relationships
// Relationships first, in small transactions: one DETACH DELETE per node batch of a
// 10^6-edge graph overflows the transaction memory pool.
MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS

// name: clear_nodes
MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS
