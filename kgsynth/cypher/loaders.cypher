// Queries used by the loaders area (bench/load.py).

// name: clear_relationships
// Relationships first, in small transactions: DETACH DELETE of high-degree nodes
// in one transaction can exceed the server's transaction memory pool on big graphs.
MATCH ()-[r]->() CALL (r) { DELETE r } IN TRANSACTIONS OF 20000 ROWS

// name: clear_nodes
MATCH (n) CALL (n) { DELETE n } IN TRANSACTIONS OF 20000 ROWS
