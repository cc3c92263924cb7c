-- Pull mirrors (issue 20): a project whose refs are copied from a git URL
-- (and its LFS objects), refreshed on a schedule, on demand, and when its
-- origin (a Blueprints project actor) announces a new version.
CREATE TABLE mirrors (
	project_id INTEGER PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
	url TEXT NOT NULL,               -- the git URL fetched
	origin_actor TEXT NOT NULL DEFAULT '', -- the origin project's actor uri, when it is on a Blueprints server
	attribution TEXT NOT NULL DEFAULT '',  -- who made it, as the origin names them
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMP NOT NULL,
	next_at TIMESTAMP NOT NULL,      -- when the schedule refreshes it next
	checked_at TIMESTAMP,            -- last refresh that reached the origin
	changed_at TIMESTAMP,            -- last refresh that brought something new
	refs TEXT NOT NULL DEFAULT '',   -- digest of the origin's refs at the last refresh
	last_error TEXT NOT NULL DEFAULT '',
	lfs_objects INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX mirrors_due ON mirrors (next_at);
CREATE INDEX mirrors_origin ON mirrors (origin_actor);
