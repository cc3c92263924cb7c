package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Local actor keys in the federation tables.

// UserActor is the key of a user's or organisation's actor.
func UserActor(id int64) string { return fmt.Sprintf("user:%d", id) }

// ProjectActor is the key of a project's actor.
func ProjectActor(id int64) string { return fmt.Sprintf("project:%d", id) }

// ActorKey returns a local actor's key pair (PEM), making it with newKey the
// first time. Every node gets the same key: the first insert wins.
func (s *Store) ActorKey(ctx context.Context, actor string, newKey func() (private, public string, err error)) (private, public string, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT private_pem, public_pem FROM ap_keys WHERE actor = ?`, actor).Scan(&private, &public)
	if err == nil {
		return private, public, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return "", "", fmt.Errorf("read key of %s: %w", actor, err)
	}
	priv, pub, err := newKey()
	if err != nil {
		return "", "", err
	}
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO ap_keys (actor, private_pem, public_pem, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`, actor, priv, pub, time.Now().UTC()); err != nil {
		return "", "", fmt.Errorf("keep key of %s: %w", actor, err)
	}
	err = s.DB.QueryRowContext(ctx, `SELECT private_pem, public_pem FROM ap_keys WHERE actor = ?`, actor).Scan(&private, &public)
	if err != nil {
		return "", "", fmt.Errorf("read key of %s: %w", actor, err)
	}
	return private, public, nil
}

// RemoteActor is an actor of another server, as last fetched.
type RemoteActor struct {
	URI, Type, Username, Name, Host string
	Inbox, SharedInbox, URL         string
	KeyID, PublicPEM, CloneURI      string
	Fetched                         time.Time
}

const remoteColumns = `uri, type, username, name, host, inbox, shared_inbox, url, key_id, public_pem, clone_uri, fetched_at`

func scanRemote(row interface{ Scan(...any) error }) (RemoteActor, error) {
	var a RemoteActor
	err := row.Scan(&a.URI, &a.Type, &a.Username, &a.Name, &a.Host, &a.Inbox, &a.SharedInbox, &a.URL, &a.KeyID, &a.PublicPEM, &a.CloneURI, &a.Fetched)
	return a, err
}

// PutRemoteActor records (or refreshes) a remote actor.
func (s *Store) PutRemoteActor(ctx context.Context, a RemoteActor) error {
	if a.Fetched.IsZero() {
		a.Fetched = time.Now()
	}
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ap_remote_actors (`+remoteColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (uri) DO UPDATE SET type = excluded.type, username = excluded.username, name = excluded.name, host = excluded.host,
		inbox = excluded.inbox, shared_inbox = excluded.shared_inbox, url = excluded.url, key_id = excluded.key_id,
		public_pem = excluded.public_pem, clone_uri = excluded.clone_uri, fetched_at = excluded.fetched_at`,
		a.URI, a.Type, a.Username, a.Name, a.Host, a.Inbox, a.SharedInbox, a.URL, a.KeyID, a.PublicPEM, a.CloneURI, a.Fetched.UTC())
	if err != nil {
		return fmt.Errorf("keep remote actor %s: %w", a.URI, err)
	}
	return nil
}

// RemoteActorByURI finds a remote actor (ErrNotFound when unknown).
func (s *Store) RemoteActorByURI(ctx context.Context, uri string) (RemoteActor, error) {
	a, err := scanRemote(s.DB.QueryRowContext(ctx, `SELECT `+remoteColumns+` FROM ap_remote_actors WHERE uri = ?`, uri))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("remote actor %s: %w", uri, ErrNotFound)
	}
	return a, err
}

// RemoteActorByKey finds the remote actor owning a key id.
func (s *Store) RemoteActorByKey(ctx context.Context, keyID string) (RemoteActor, error) {
	a, err := scanRemote(s.DB.QueryRowContext(ctx, `SELECT `+remoteColumns+` FROM ap_remote_actors WHERE key_id = ? ORDER BY fetched_at DESC LIMIT 1`, keyID))
	if errors.Is(err, sql.ErrNoRows) {
		return a, fmt.Errorf("remote key %s: %w", keyID, ErrNotFound)
	}
	return a, err
}

// Follower is a remote actor following a local one.
type Follower struct {
	Actor, Follower, FollowID, Inbox string
	Created                          time.Time
}

// AddFollower records that follower follows the local actor.
func (s *Store) AddFollower(ctx context.Context, f Follower) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ap_followers (actor, follower, follow_id, inbox, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (actor, follower) DO UPDATE SET follow_id = excluded.follow_id, inbox = excluded.inbox`,
		f.Actor, f.Follower, f.FollowID, f.Inbox, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("add follower of %s: %w", f.Actor, err)
	}
	return nil
}

// RemoveFollower forgets a follower (Undo Follow); it reports whether
// there was one.
func (s *Store) RemoveFollower(ctx context.Context, actor, follower string) (bool, error) {
	res, err := s.DB.ExecContext(ctx, `DELETE FROM ap_followers WHERE actor = ? AND follower = ?`, actor, follower)
	if err != nil {
		return false, fmt.Errorf("remove follower of %s: %w", actor, err)
	}
	n, _ := res.RowsAffected()
	return n > 0, nil
}

// Followers lists a local actor's followers, oldest first.
func (s *Store) Followers(ctx context.Context, actor string) ([]Follower, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT actor, follower, follow_id, inbox, created_at FROM ap_followers WHERE actor = ? ORDER BY created_at, follower`, actor)
	if err != nil {
		return nil, fmt.Errorf("list followers of %s: %w", actor, err)
	}
	defer rows.Close()
	var out []Follower
	for rows.Next() {
		var f Follower
		if err := rows.Scan(&f.Actor, &f.Follower, &f.FollowID, &f.Inbox, &f.Created); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// Following is a local person's follow of a remote actor.
type Following struct {
	ID              int64
	UserID          int64
	Target          string // remote actor uri
	FollowID        string
	State           string // "pending", "accepted", "rejected"
	MirrorProjectID int64  // 0: no mirror kept
	Created         time.Time
}

const followingColumns = `id, user_id, target, follow_id, state, mirror_project_id, created_at`

func scanFollowing(row interface{ Scan(...any) error }) (Following, error) {
	var f Following
	err := row.Scan(&f.ID, &f.UserID, &f.Target, &f.FollowID, &f.State, &f.MirrorProjectID, &f.Created)
	return f, err
}

// AddFollowing records a Follow sent by a local person; following the
// same actor again replaces the earlier one.
func (s *Store) AddFollowing(ctx context.Context, f Following) (Following, error) {
	now := time.Now().UTC()
	err := s.DB.QueryRowContext(ctx, `INSERT INTO ap_following (user_id, target, follow_id, state, mirror_project_id, created_at) VALUES (?, ?, ?, 'pending', ?, ?)
		ON CONFLICT (user_id, target) DO UPDATE SET follow_id = excluded.follow_id, state = 'pending', mirror_project_id = excluded.mirror_project_id
		RETURNING id`, f.UserID, f.Target, f.FollowID, f.MirrorProjectID, now).Scan(&f.ID)
	if err != nil {
		return f, fmt.Errorf("record follow of %s: %w", f.Target, err)
	}
	f.State, f.Created = "pending", now
	return f, nil
}

// SetFollowingState marks our Follow followID accepted or rejected; it
// returns the follow (ErrNotFound for a Follow we never sent).
func (s *Store) SetFollowingState(ctx context.Context, followID, state string) (Following, error) {
	f, err := scanFollowing(s.DB.QueryRowContext(ctx, `UPDATE ap_following SET state = ? WHERE follow_id = ? RETURNING `+followingColumns, state, followID))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("follow %s: %w", followID, ErrNotFound)
	}
	return f, err
}

// FollowingOf lists a person's follows, newest first.
func (s *Store) FollowingOf(ctx context.Context, userID int64) ([]Following, error) {
	return s.followings(ctx, `SELECT `+followingColumns+` FROM ap_following WHERE user_id = ? ORDER BY id DESC`, userID)
}

// FollowingTarget lists the local follows of a remote actor.
func (s *Store) FollowingTarget(ctx context.Context, target string) ([]Following, error) {
	return s.followings(ctx, `SELECT `+followingColumns+` FROM ap_following WHERE target = ? ORDER BY id`, target)
}

// FollowingByID finds one follow.
func (s *Store) FollowingByID(ctx context.Context, id int64) (Following, error) {
	f, err := scanFollowing(s.DB.QueryRowContext(ctx, `SELECT `+followingColumns+` FROM ap_following WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return f, fmt.Errorf("follow %d: %w", id, ErrNotFound)
	}
	return f, err
}

// DeleteFollowing forgets a follow (after its Undo is queued).
func (s *Store) DeleteFollowing(ctx context.Context, id int64) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM ap_following WHERE id = ?`, id)
	return err
}

func (s *Store) followings(ctx context.Context, q string, args ...any) ([]Following, error) {
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("list follows: %w", err)
	}
	defer rows.Close()
	var out []Following
	for rows.Next() {
		f, err := scanFollowing(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// APDelivery is an activity to post to an inbox.
type APDelivery struct {
	ID        int64
	Actor     string // the local signer
	Inbox     string
	Body      string
	Attempts  int
	State     string
	LastError string
	Created   time.Time
}

// EnqueueAPDelivery queues body for inbox, signed by actor when sent.
func (s *Store) EnqueueAPDelivery(ctx context.Context, actor, inbox, body string) error {
	now := time.Now().UTC()
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ap_deliveries (actor, inbox, body, next_at, created_at) VALUES (?, ?, ?, ?, ?)`, actor, inbox, body, now, now)
	if err != nil {
		return fmt.Errorf("queue delivery to %s: %w", inbox, err)
	}
	return nil
}

// ClaimAPDelivery takes the oldest due delivery for node, leased for ttl
// (another node may take it when the lease runs out). It returns
// ErrNotFound when none is due.
func (s *Store) ClaimAPDelivery(ctx context.Context, node string, ttl time.Duration) (APDelivery, error) {
	now := s.DB.d.nowMillis()
	var d APDelivery
	err := s.DB.QueryRowContext(ctx, `UPDATE ap_deliveries SET attempts = attempts + 1, node = ?, lease_until = `+now+` + ?
		WHERE id = (SELECT id FROM ap_deliveries WHERE state = 'queued' AND next_at <= ? AND lease_until < `+now+` ORDER BY next_at, id LIMIT 1)
		AND state = 'queued' AND lease_until < `+now+`
		RETURNING id, actor, inbox, body, attempts, state, last_error, created_at`,
		node, ttl.Milliseconds(), time.Now().UTC()).Scan(&d.ID, &d.Actor, &d.Inbox, &d.Body, &d.Attempts, &d.State, &d.LastError, &d.Created)
	if errors.Is(err, sql.ErrNoRows) {
		return d, ErrNotFound
	}
	if err != nil {
		return d, fmt.Errorf("claim delivery: %w", err)
	}
	return d, nil
}

// FinishAPDelivery records a sending attempt: sent, failed for good (giveUp),
// or to be tried again at next.
func (s *Store) FinishAPDelivery(ctx context.Context, id int64, sendErr string, giveUp bool, next time.Time) error {
	var err error
	switch {
	case sendErr == "":
		_, err = s.DB.ExecContext(ctx, `UPDATE ap_deliveries SET state = 'sent', sent_at = ?, last_error = '', lease_until = 0 WHERE id = ?`, time.Now().UTC(), id)
	case giveUp:
		_, err = s.DB.ExecContext(ctx, `UPDATE ap_deliveries SET state = 'failed', last_error = ?, lease_until = 0 WHERE id = ?`, sendErr, id)
	default:
		_, err = s.DB.ExecContext(ctx, `UPDATE ap_deliveries SET last_error = ?, next_at = ?, lease_until = 0 WHERE id = ?`, sendErr, next.UTC(), id)
	}
	if err != nil {
		return fmt.Errorf("record delivery %d: %w", id, err)
	}
	return nil
}

// Deliveries lists the latest deliveries, newest first (admin page, tests).
func (s *Store) APDeliveries(ctx context.Context, limit int) ([]APDelivery, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT id, actor, inbox, body, attempts, state, last_error, created_at FROM ap_deliveries ORDER BY id DESC LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("list deliveries: %w", err)
	}
	defer rows.Close()
	var out []APDelivery
	for rows.Next() {
		var d APDelivery
		if err := rows.Scan(&d.ID, &d.Actor, &d.Inbox, &d.Body, &d.Attempts, &d.State, &d.LastError, &d.Created); err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// Published is an activity in a local actor's outbox.
type Published struct {
	Actor, ActivityID, ObjectID, Body string
	Published                         time.Time
}

// Publish adds an activity to a local actor's outbox (once per id).
func (s *Store) Publish(ctx context.Context, p Published) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ap_outbox (actor, activity_id, object_id, body, published) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		p.Actor, p.ActivityID, p.ObjectID, p.Body, p.Published.UTC())
	if err != nil {
		return fmt.Errorf("publish %s: %w", p.ActivityID, err)
	}
	return nil
}

// Outbox lists a local actor's latest activities, newest first, and how
// many it has.
func (s *Store) Outbox(ctx context.Context, actor string, limit int) ([]Published, int, error) {
	var n int
	if err := s.DB.QueryRowContext(ctx, `SELECT COUNT(*) FROM ap_outbox WHERE actor = ?`, actor).Scan(&n); err != nil {
		return nil, 0, fmt.Errorf("count outbox of %s: %w", actor, err)
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT actor, activity_id, object_id, body, published FROM ap_outbox WHERE actor = ? ORDER BY id DESC LIMIT ?`, actor, limit)
	if err != nil {
		return nil, 0, fmt.Errorf("list outbox of %s: %w", actor, err)
	}
	defer rows.Close()
	var out []Published
	for rows.Next() {
		var p Published
		if err := rows.Scan(&p.Actor, &p.ActivityID, &p.ObjectID, &p.Body, &p.Published); err != nil {
			return nil, 0, err
		}
		out = append(out, p)
	}
	return out, n, rows.Err()
}

// PublishedObject finds the latest activity about an object (a Note's id).
func (s *Store) PublishedObject(ctx context.Context, objectID string) (Published, error) {
	var p Published
	err := s.DB.QueryRowContext(ctx, `SELECT actor, activity_id, object_id, body, published FROM ap_outbox WHERE object_id = ? ORDER BY id DESC LIMIT 1`, objectID).
		Scan(&p.Actor, &p.ActivityID, &p.ObjectID, &p.Body, &p.Published)
	if errors.Is(err, sql.ErrNoRows) {
		return p, fmt.Errorf("object %s: %w", objectID, ErrNotFound)
	}
	return p, err
}

// SeenSignature records a signature's digest and reports whether it was
// already there (a replay). Digests older than keep are forgotten first.
func (s *Store) SeenSignature(ctx context.Context, digest string, keep time.Duration) (bool, error) {
	now := time.Now().UTC()
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM ap_seen WHERE seen_at < ?`, now.Add(-keep)); err != nil {
		return false, fmt.Errorf("forget old signatures: %w", err)
	}
	var d string
	err := s.DB.QueryRowContext(ctx, `INSERT INTO ap_seen (digest, seen_at) VALUES (?, ?) ON CONFLICT DO NOTHING RETURNING digest`, digest, now).Scan(&d)
	if errors.Is(err, sql.ErrNoRows) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("remember signature: %w", err)
	}
	return false, nil
}

// Block is a blocked server (host) or actor (uri).
type Block struct {
	Target, Reason string
	Created        time.Time
}

// AddBlock blocks a server or an actor.
func (s *Store) AddBlock(ctx context.Context, target, reason string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO ap_blocks (target, reason, created_at) VALUES (?, ?, ?) ON CONFLICT (target) DO UPDATE SET reason = excluded.reason`, target, reason, time.Now().UTC())
	if err != nil {
		return fmt.Errorf("block %s: %w", target, err)
	}
	return nil
}

// RemoveBlock lifts a block.
func (s *Store) RemoveBlock(ctx context.Context, target string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM ap_blocks WHERE target = ?`, target)
	return err
}

// Blocks lists every block.
func (s *Store) Blocks(ctx context.Context) ([]Block, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT target, reason, created_at FROM ap_blocks ORDER BY target`)
	if err != nil {
		return nil, fmt.Errorf("list blocks: %w", err)
	}
	defer rows.Close()
	var out []Block
	for rows.Next() {
		var b Block
		if err := rows.Scan(&b.Target, &b.Reason, &b.Created); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, rows.Err()
}

// Blocked reports whether any of targets (a host, an actor uri) is blocked.
func (s *Store) Blocked(ctx context.Context, targets ...string) (bool, error) {
	for _, t := range targets {
		if t == "" {
			continue
		}
		var one int
		err := s.DB.QueryRowContext(ctx, `SELECT 1 FROM ap_blocks WHERE target = ?`, t).Scan(&one)
		if err == nil {
			return true, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("check blocks: %w", err)
		}
	}
	return false, nil
}

// AddPeer adds a federated search peer; RemovePeer drops one.
func (s *Store) AddPeer(ctx context.Context, url string) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO net_peers (url, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING`, url, time.Now().UTC())
	return err
}

// RemovePeer drops a federated search peer.
func (s *Store) RemovePeer(ctx context.Context, url string) error {
	_, err := s.DB.ExecContext(ctx, `DELETE FROM net_peers WHERE url = ?`, url)
	return err
}

// Peers lists the federated search peers added on the admin page.
func (s *Store) Peers(ctx context.Context) ([]string, error) {
	rows, err := s.DB.QueryContext(ctx, `SELECT url FROM net_peers ORDER BY url`)
	if err != nil {
		return nil, fmt.Errorf("list peers: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, rows.Err()
}
