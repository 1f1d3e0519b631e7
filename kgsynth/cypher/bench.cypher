// Queries used only by bench/sample.py.

// name: naive_rand
// The baseline the sampler avoids: shuffles every relationship of the type.
MATCH (a:Concept)-[r:__TYPE__]->(b:Concept)
WITH a, r, b ORDER BY rand()
LIMIT $k
RETURN a.id AS subject, type(r) AS type, b.id AS object
