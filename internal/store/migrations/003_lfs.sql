-- Git LFS: which project owns which object (objects are stored once by
-- content, under lfs/ab/cd/<oid>, but a project sees only its own), and
-- file locks (one per path per project).

CREATE TABLE lfs_objects (
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	oid TEXT NOT NULL,              -- SHA-256, 64 lower-case hex digits
	size INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (project_id, oid)
);
CREATE INDEX lfs_objects_oid ON lfs_objects (oid);

CREATE TABLE lfs_locks (
	id INTEGER PRIMARY KEY,
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	path TEXT NOT NULL,             -- relative to the repository root, as the client sent it
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	UNIQUE (project_id, path)
);

-- Objects uploaded into a project that does not exist yet: git-lfs uploads
-- before git pushes, and the push creates the project (push-to-create).
-- The push adopts them into lfs_objects. Only the owner can upload into
-- their own namespace, so (owner, project) names the future project.
CREATE TABLE lfs_pending (
	owner TEXT NOT NULL COLLATE NOCASE,
	project TEXT NOT NULL COLLATE NOCASE,
	oid TEXT NOT NULL,
	size INTEGER NOT NULL,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	PRIMARY KEY (owner, project, oid)
);
