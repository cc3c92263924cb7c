-- The sign-in throttle's records (internal/guard), shared by every node so
-- that failures counted on one refuse the client on all. Times are
-- milliseconds since 1970 on the clock of the node that wrote them.
CREATE TABLE throttle (
	key TEXT PRIMARY KEY,                  -- "ip 1.2.3.4", "user alice", "good alice 1.2.3.4"
	failures INTEGER NOT NULL DEFAULT 0,   -- within the window starting at since_ms
	since_ms INTEGER NOT NULL DEFAULT 0,
	strikes INTEGER NOT NULL DEFAULT 0,    -- refusals so far
	blocked_until_ms INTEGER NOT NULL DEFAULT 0,
	last_ms INTEGER NOT NULL DEFAULT 0     -- last failure, or last success for good pairs
);
CREATE INDEX throttle_last ON throttle (last_ms);
