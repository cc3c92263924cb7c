-- Accounts (issue 13): people sign in on the web with a password or an
-- OpenID Connect identity, keep server-side sessions, and make access
-- tokens with a name, a scope and an expiry. Organisations are owners too,
-- so they live in users (kind 'org') and share its case-insensitive
-- namespace: /{owner} is a person or an organisation, never both.

ALTER TABLE users ADD COLUMN kind TEXT NOT NULL DEFAULT 'user'; -- 'user' or 'org'
ALTER TABLE users ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN bio TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN password_hash TEXT NOT NULL DEFAULT ''; -- argon2id, PHC string; '' when none is set
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMP;          -- set: no sign-in, no token, no session

-- Tokens made before scopes existed could push: they keep scope 'write'.
ALTER TABLE tokens ADD COLUMN name TEXT NOT NULL DEFAULT '';
ALTER TABLE tokens ADD COLUMN scope TEXT NOT NULL DEFAULT 'write'; -- 'read' or 'write'
ALTER TABLE tokens ADD COLUMN expires_at TIMESTAMP;                -- NULL: never

-- Web sessions: the cookie holds a secret, the store its SHA-256.
CREATE TABLE sessions (
	id INTEGER PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	method TEXT NOT NULL DEFAULT 'password', -- how it signed in: password or oidc
	ip TEXT NOT NULL DEFAULT '',
	user_agent TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL,
	last_seen_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);

-- Invitations to sign up (--registration invite); the link holds a secret,
-- the store its SHA-256. Each is used once.
CREATE TABLE invites (
	id INTEGER PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL,
	used_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
	used_at TIMESTAMP
);

-- OpenID Connect identities: (issuer, subject) names one account.
CREATE TABLE identities (
	id INTEGER PRIMARY KEY,
	issuer TEXT NOT NULL,
	subject TEXT NOT NULL,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	email TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL,
	last_used_at TIMESTAMP,
	UNIQUE (issuer, subject)
);
CREATE INDEX identities_user ON identities (user_id);

-- Keys the server makes once and keeps (CSRF tokens are signed with one),
-- so that forms and sign-in flows survive a restart.
CREATE TABLE server_secrets (
	name TEXT PRIMARY KEY,
	value TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);
