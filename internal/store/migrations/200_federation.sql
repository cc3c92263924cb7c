-- A network of Blueprints servers (issue 20): ActivityPub actors' keys,
-- the remote actors this server has met, who follows whom, the delivery
-- queue, signatures already seen (replays), blocks and search peers.

-- Key pairs of local actors: 'user:ID' (people and organisations) or
-- 'project:ID', so renames keep their key.
CREATE TABLE ap_keys (
	actor TEXT PRIMARY KEY,
	private_pem TEXT NOT NULL,
	public_pem TEXT NOT NULL,
	created_at TIMESTAMP NOT NULL
);

-- Actors of other servers, as last fetched (through the guarded client).
CREATE TABLE ap_remote_actors (
	uri TEXT PRIMARY KEY,
	type TEXT NOT NULL,
	username TEXT NOT NULL,
	name TEXT NOT NULL DEFAULT '',
	host TEXT NOT NULL,
	inbox TEXT NOT NULL,
	shared_inbox TEXT NOT NULL DEFAULT '',
	url TEXT NOT NULL DEFAULT '',
	key_id TEXT NOT NULL,
	public_pem TEXT NOT NULL,
	clone_uri TEXT NOT NULL DEFAULT '',
	fetched_at TIMESTAMP NOT NULL
);
CREATE INDEX ap_remote_actors_key ON ap_remote_actors (key_id);

-- Remote actors following a local actor.
CREATE TABLE ap_followers (
	actor TEXT NOT NULL,             -- local: 'user:ID' or 'project:ID'
	follower TEXT NOT NULL,          -- remote actor uri
	follow_id TEXT NOT NULL,         -- the Follow activity's id
	inbox TEXT NOT NULL,             -- where deliveries go (its shared inbox when it has one)
	created_at TIMESTAMP NOT NULL,
	PRIMARY KEY (actor, follower)
);

-- Local people following a remote actor; mirror_project_id is the mirror
-- kept of a followed project (mirror on follow), 0 for none.
CREATE TABLE ap_following (
	id INTEGER PRIMARY KEY,
	user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	target TEXT NOT NULL,            -- remote actor uri
	follow_id TEXT NOT NULL UNIQUE,  -- our Follow activity's id
	state TEXT NOT NULL DEFAULT 'pending', -- 'pending', 'accepted', 'rejected'
	mirror_project_id INTEGER NOT NULL DEFAULT 0,
	created_at TIMESTAMP NOT NULL,
	UNIQUE (user_id, target)
);
CREATE INDEX ap_following_target ON ap_following (target);

-- Activities to deliver, signed by a local actor at sending time; retried
-- with doubling waits. Claimed with a lease (milliseconds on the
-- database's clock) so that one node sends each.
CREATE TABLE ap_deliveries (
	id INTEGER PRIMARY KEY,
	actor TEXT NOT NULL,             -- the local signer
	inbox TEXT NOT NULL,
	body TEXT NOT NULL,
	attempts INTEGER NOT NULL DEFAULT 0,
	state TEXT NOT NULL DEFAULT 'queued', -- 'queued', 'sent', 'failed'
	next_at TIMESTAMP NOT NULL,
	lease_until INTEGER NOT NULL DEFAULT 0,
	node TEXT NOT NULL DEFAULT '',
	last_error TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL,
	sent_at TIMESTAMP
);
CREATE INDEX ap_deliveries_due ON ap_deliveries (state, next_at);

-- What each local actor published (Create/Update), newest last: its
-- outbox, and the Notes served at their ids.
CREATE TABLE ap_outbox (
	id INTEGER PRIMARY KEY,
	actor TEXT NOT NULL,
	activity_id TEXT NOT NULL UNIQUE,
	object_id TEXT NOT NULL,
	body TEXT NOT NULL,
	published TIMESTAMP NOT NULL
);
CREATE INDEX ap_outbox_actor ON ap_outbox (actor, id);
CREATE INDEX ap_outbox_object ON ap_outbox (object_id);

-- SHA-256 of every signature accepted, kept for the date window: the same
-- signed request again is a replay.
CREATE TABLE ap_seen (
	digest TEXT PRIMARY KEY,
	seen_at TIMESTAMP NOT NULL
);

-- Servers (a host, "b.example:8080") and actors (a uri) the admin blocked:
-- their activities and search answers are dropped.
CREATE TABLE ap_blocks (
	target TEXT PRIMARY KEY,
	reason TEXT NOT NULL DEFAULT '',
	created_at TIMESTAMP NOT NULL
);

-- Peers of federated search added on the admin page (beside --peers).
CREATE TABLE net_peers (
	url TEXT PRIMARY KEY,
	created_at TIMESTAMP NOT NULL
);
