-- Webhooks: a project's, or an organisation's (sent for every project it
-- owns); a URL, a secret the bodies are signed with (HMAC-SHA256, kept to
-- sign, never shown again), and the events sent.
CREATE TABLE webhooks (
	id INTEGER PRIMARY KEY,
	project_id INTEGER REFERENCES projects(id) ON DELETE CASCADE,
	owner_id INTEGER REFERENCES users(id) ON DELETE CASCADE,
	url TEXT NOT NULL,
	secret TEXT NOT NULL,
	events TEXT NOT NULL, -- comma-separated: push,catalog.done
	created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
	CHECK ((project_id IS NULL) <> (owner_id IS NULL))
);

CREATE INDEX webhooks_project ON webhooks (project_id);
CREATE INDEX webhooks_owner ON webhooks (owner_id);

-- One event to one webhook, tried until it is answered 2xx or gives up.
CREATE TABLE webhook_deliveries (
	id INTEGER PRIMARY KEY,
	webhook_id INTEGER NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
	guid TEXT NOT NULL,       -- X-Blueprints-Delivery
	event TEXT NOT NULL,
	payload TEXT NOT NULL,
	state TEXT NOT NULL,      -- pending, delivered, failed
	attempts INTEGER NOT NULL DEFAULT 0,
	status_code INTEGER NOT NULL DEFAULT 0, -- of the last attempt; 0 when none answered
	error TEXT NOT NULL DEFAULT '',
	duration_ms INTEGER NOT NULL DEFAULT 0,
	next_at TIMESTAMP NOT NULL,
	created_at TIMESTAMP NOT NULL,
	updated_at TIMESTAMP NOT NULL
);

CREATE INDEX webhook_deliveries_due ON webhook_deliveries (state, next_at);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (webhook_id, id);
