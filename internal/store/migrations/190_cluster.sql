-- Several nodes on one database (issue 19).
--
-- Catalog jobs are claimed with a lease: the node running a job renews
-- lease_until while it works; another node takes the job over once the
-- lease has run out (the node died). Times are milliseconds since 1970 on
-- the database's clock, so the nodes' clocks never matter.
ALTER TABLE catalog_jobs ADD COLUMN node TEXT NOT NULL DEFAULT '';
ALTER TABLE catalog_jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;

-- The change log every node's search index follows (DESIGN decision 10).
-- A row says "the search document of this part (path) or of this project
-- (path '') may have changed; build it again from the catalogue". It is
-- compacted by document: a change moves the document's row to a new,
-- higher sequence number. Rows are written in the transaction that
-- changes the catalogue, and sequence numbers are handed out under the
-- lock of the counter row, so they are committed in order: a node that
-- has applied everything up to N never misses a change below N.
CREATE TABLE index_log (
	project TEXT NOT NULL,          -- "owner/name"
	path TEXT NOT NULL,             -- the part's path; '' for the project itself
	seq INTEGER NOT NULL,           -- position in the log
	PRIMARY KEY (project, path)
);
CREATE UNIQUE INDEX index_log_seq ON index_log (seq);

-- Named counters: 'index_log' is the last sequence number handed out.
CREATE TABLE counters (
	name TEXT PRIMARY KEY,
	value INTEGER NOT NULL
);

-- Every document the catalogue holds today, so that an index built before
-- the log existed is brought up to date once.
INSERT INTO index_log (project, path, seq)
SELECT project, path, ROW_NUMBER() OVER (ORDER BY project, path) FROM (
	SELECT project, '' AS path FROM project_meta
	UNION ALL
	SELECT project, path FROM parts
) docs;
INSERT INTO counters (name, value) SELECT 'index_log', COUNT(*) FROM index_log;
