-- Unchanged texts are now recognised by ref (the primary key) and the stored
-- hash of their text; an index of random hashes cost a write to a random
-- B-tree page for every entity stored.
DROP INDEX source_entities_by_raw_hash;
