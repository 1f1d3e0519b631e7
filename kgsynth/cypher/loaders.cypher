// Queries used by the loaders area (bench/load.py).

// name: clear_relationships
// Relationships first, in small transactions: DETACH DELETE of high-degree nodes
// in one transaction can exceed the server's transaction memory pool on big graphs.
MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS

// name: clear_nodes
MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS

// name: any_node
// The bulk path's emptiness check: a full import only fills an empty database.
MATCH (n) RETURN 1 AS found LIMIT 1

// name: await_indexes
// After a bulk import the indexes are created on a full store: wait until they are online.
CALL db.awaitIndexes(600)

// name: dump_nodes
// Every node with its labels and properties: the canonical dump that compares a bulk and a MERGE load.
MATCH (n)
RETURN labels(n) AS labels, properties(n) AS props

// name: dump_relationships
MATCH (a)-[r]->(b)
RETURN a.id AS subject, type(r) AS type, b.id AS object, properties(r) AS props

// name: show_indexes
// Which indexes and constraint indexes exist, and whether they are online (checked after a bulk import).
SHOW INDEXES YIELD name, state
RETURN name, state
