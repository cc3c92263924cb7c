-- OpenID Connect sign-ins in progress (issue 13). A flow is made when a
-- browser leaves for the provider ('start': its nonce, PKCE verifier and
-- where to go next) and taken back, once, when the provider sends it back;
-- a first sign-in that still needs a user name is kept as 'signup' (the
-- verified identity) until the form is sent. The browser's cookie holds
-- the flow's secret, the store its SHA-256. Rows live minutes.
CREATE TABLE oidc_flows (
	id INTEGER PRIMARY KEY,
	hash TEXT NOT NULL UNIQUE,
	kind TEXT NOT NULL,                 -- 'start' or 'signup'
	nonce TEXT NOT NULL DEFAULT '',
	verifier TEXT NOT NULL DEFAULT '',  -- PKCE code verifier
	next TEXT NOT NULL DEFAULT '',      -- a local path to go to afterwards
	invite TEXT NOT NULL DEFAULT '',    -- an invitation's secret, for sign-up
	link_user_id INTEGER REFERENCES users(id) ON DELETE CASCADE, -- set: link to this signed-in account
	issuer TEXT NOT NULL DEFAULT '',
	subject TEXT NOT NULL DEFAULT '',
	email TEXT NOT NULL DEFAULT '',
	name TEXT NOT NULL DEFAULT '',      -- the provider's preferred user name, a suggestion
	created_at TIMESTAMP NOT NULL,
	expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oidc_flows_expires ON oidc_flows (expires_at);
