-- Names are unique without regard to case (as on GitHub) and keep the case
-- they were created with. Names are ASCII ([A-Za-z0-9._-]), so NOCASE folds
-- them fully.
CREATE TABLE users (
	id INTEGER PRIMARY KEY,
	name TEXT NOT NULL UNIQUE COLLATE NOCASE,
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
);

CREATE TABLE tokens (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	hash TEXT NOT NULL UNIQUE, -- hex SHA-256 of the secret; the secret itself is never stored
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	last_used_at TIMESTAMP,
	revoked_at TIMESTAMP
);

CREATE INDEX tokens_user ON tokens (user_id);

CREATE TABLE projects (
	id INTEGER PRIMARY KEY,
	owner TEXT NOT NULL COLLATE NOCASE,
	name TEXT NOT NULL COLLATE NOCASE,
	default_branch TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	UNIQUE (owner, name)
);

CREATE INDEX projects_created ON projects (created_at);
