-- The catalog: a durable queue of cataloguing jobs (one per update of a
-- project's default branch), measured parts keyed by blob, the parts on
-- each project's default branch, and project metadata.

CREATE TABLE catalog_jobs (
	id INTEGER PRIMARY KEY,
	project TEXT NOT NULL,          -- "owner/name"
	ref TEXT NOT NULL,              -- full ref name, "refs/heads/main"
	old TEXT NOT NULL,              -- commit before the push (40 zeros for a new branch)
	new TEXT NOT NULL,              -- commit after the push (40 zeros when the branch was deleted)
	state TEXT NOT NULL DEFAULT 'queued', -- queued, running, done, failed
	attempts INTEGER NOT NULL DEFAULT 0,
	error TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	started_at TIMESTAMP,
	finished_at TIMESTAMP
);
CREATE INDEX catalog_jobs_state ON catalog_jobs (state, id);
CREATE INDEX catalog_jobs_project ON catalog_jobs (project, id);

-- Measurements by content: the same file in two projects (or two commits)
-- is measured and rendered once.
CREATE TABLE blob_parts (
	blob TEXT PRIMARY KEY,          -- git blob id, or the LFS object id for LFS files
	part TEXT NOT NULL DEFAULT '',  -- render.Part as JSON; empty when measuring failed
	preview TEXT NOT NULL DEFAULT '', -- blob-storage key of the 512 px preview
	error TEXT NOT NULL DEFAULT '', -- why the file could not be measured
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- The parts on each project's default branch.
CREATE TABLE parts (
	project TEXT NOT NULL,
	path TEXT NOT NULL,
	blob TEXT NOT NULL,             -- key into blob_parts
	ref TEXT NOT NULL,              -- branch name, "main"
	commit_id TEXT NOT NULL,        -- last commit that changed the file
	updated_at TIMESTAMP NOT NULL,  -- that commit's time
	error TEXT NOT NULL DEFAULT '', -- why the file is not catalogued (empty when it is)
	PRIMARY KEY (project, path)
);

CREATE TABLE project_meta (
	project TEXT PRIMARY KEY,       -- "owner/name"
	title TEXT NOT NULL DEFAULT '',
	description TEXT NOT NULL DEFAULT '',
	license TEXT NOT NULL DEFAULT 'none',
	category TEXT NOT NULL DEFAULT '',
	tags TEXT NOT NULL DEFAULT '[]', -- JSON array of strings
	version TEXT NOT NULL DEFAULT '',
	problems TEXT NOT NULL DEFAULT '[]', -- JSON array: problems with the README, licence or manifest
	ref TEXT NOT NULL DEFAULT '',
	latest_commit TEXT NOT NULL DEFAULT '', -- last commit catalogued
	latest_at TIMESTAMP,
	state TEXT NOT NULL DEFAULT 'queued', -- queued, running, done, failed
	queued INTEGER NOT NULL DEFAULT 0,     -- parts queued by the last push
	error TEXT NOT NULL DEFAULT '',        -- why the last job failed
	updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);
