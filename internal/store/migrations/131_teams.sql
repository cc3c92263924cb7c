-- Teams and private projects (issue 13): organisation members, project
-- collaborators, visibility, redirects after a rename or transfer, and
-- which project each catalogued file version came from (so a preview
-- addressed by content hash is served only to someone who may read a
-- project holding it, and deleting a project knows what nobody else uses).

CREATE TABLE org_members (
	org_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	role TEXT NOT NULL, -- 'owner' or 'member'
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (org_id, user_id)
);
CREATE INDEX org_members_user ON org_members (user_id);

-- Every project made before this was public.
ALTER TABLE projects ADD COLUMN visibility TEXT NOT NULL DEFAULT 'public'; -- 'public' or 'private'
ALTER TABLE projects ADD COLUMN description TEXT NOT NULL DEFAULT '';      -- set on the settings page; overrides the README's
ALTER TABLE projects ADD COLUMN changed_at TIMESTAMP;                      -- last settings change (lists' cache keys)
CREATE INDEX projects_owner ON projects (owner);

CREATE TABLE collaborators (
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	permission TEXT NOT NULL, -- 'read' or 'write'
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (project_id, user_id)
);
CREATE INDEX collaborators_user ON collaborators (user_id);

-- Old names of renamed or transferred projects: their pages and git
-- remotes redirect to the project's current name.
CREATE TABLE project_redirects (
	owner TEXT NOT NULL COLLATE NOCASE,
	name TEXT NOT NULL COLLATE NOCASE,
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (owner, name)
);
CREATE INDEX project_redirects_project ON project_redirects (project_id);

-- The file versions (blob_parts keys) each project's catalogue has seen,
-- on its default branch and in its pushed history.
CREATE TABLE project_blobs (
	project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	blob TEXT NOT NULL,
	PRIMARY KEY (project_id, blob)
);
CREATE INDEX project_blobs_blob ON project_blobs (blob);
INSERT INTO project_blobs (project_id, blob)
	SELECT DISTINCT pr.id, pa.blob FROM parts pa JOIN projects pr ON pa.project = pr.owner || '/' || pr.name;

CREATE INDEX blob_parts_preview ON blob_parts (preview);
