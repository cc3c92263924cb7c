-- Facts about the database itself, such as which binary last opened it
-- (key 'written_by'), so that an older binary refusing a newer schema can
-- say which version wrote it.
CREATE TABLE store_info (
	key   TEXT PRIMARY KEY,
	value TEXT NOT NULL
);
