package federation

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Refusal is an inbox request refused: the status the sender gets and why.
type Refusal struct {
	Status int
	Reason string
	Err    error // the error refused for, when there is one (httpsig's)
}

func (r *Refusal) Error() string { return r.Reason }

// Unwrap returns the error refused for.
func (r *Refusal) Unwrap() error { return r.Err }

func refuse(status int, format string, args ...any) error {
	return &Refusal{Status: status, Reason: fmt.Sprintf(format, args...)}
}

// inbox takes a signed activity: the shared inbox and every actor's.
func (s *Service) inbox(c echo.Context) error {
	r := c.Request()
	body, err := io.ReadAll(io.LimitReader(r.Body, ap.MaxDocument+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "read body: "+err.Error())
	}
	if len(body) > ap.MaxDocument {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("activity over %d bytes", ap.MaxDocument))
	}
	err = s.Receive(r.Context(), r, body)
	var ref *Refusal
	if errors.As(err, &ref) {
		s.log.Info("inbox refused an activity", "status", ref.Status, "reason", ref.Reason, "from", c.RealIP())
		return echo.NewHTTPError(ref.Status, ref.Reason)
	}
	if err != nil {
		return s.fail(c, err)
	}
	return c.NoContent(http.StatusAccepted)
}

// Receive checks and acts on one activity posted to an inbox: its
// signature (by the key of the actor it claims, fetched when unknown or
// changed), its date and digest, that it was not seen before, that neither
// the sender's server nor the actor is blocked; then Follow, Undo, Accept,
// Reject and Create/Update are acted on, anything else ignored. A refused
// request is a *Refusal.
func (s *Service) Receive(ctx context.Context, r *http.Request, body []byte) error {
	params, err := httpsig.Parse(r)
	if err != nil {
		return &Refusal{Status: http.StatusUnauthorized, Reason: err.Error(), Err: err}
	}
	keyHost := hostOf(params.KeyID)
	if keyHost == "" || ap.CheckIRI(params.KeyID) != nil {
		return refuse(http.StatusUnauthorized, "key id %q is not an http(s) URL", params.KeyID)
	}
	if blocked, err := s.cfg.Store.Blocked(ctx, keyHost); err != nil {
		return err
	} else if blocked {
		return refuse(http.StatusForbidden, "server %s is blocked here", keyHost)
	}
	now := s.cfg.Now()
	actor, err := s.verify(ctx, r, body, params, now)
	if err != nil {
		return err
	}
	// The same signed request twice is a replay: a signature covers the
	// date, so a fresh request always has a new one.
	sum := sha256.Sum256(params.Signature)
	if seen, err := s.cfg.Store.SeenSignature(ctx, hex.EncodeToString(sum[:]), 2*s.cfg.Window); err != nil {
		return err
	} else if seen {
		return refuse(http.StatusUnauthorized, "replayed request: this signature was already received")
	}
	in, err := ap.ParseActivity(body)
	if err != nil {
		return refuse(http.StatusBadRequest, "%v", err)
	}
	if in.Actor != actor.URI {
		return refuse(http.StatusUnauthorized, "activity of %s signed by the key of %s", in.Actor, actor.URI)
	}
	if blocked, err := s.cfg.Store.Blocked(ctx, actor.URI); err != nil {
		return err
	} else if blocked {
		return refuse(http.StatusForbidden, "actor %s is blocked here", actor.URI)
	}
	return s.act(ctx, actor, in)
}

// verify checks the signature with the sender's known key, fetching the
// actor again when the key is unknown or does not verify (keys rotate).
func (s *Service) verify(ctx context.Context, r *http.Request, body []byte, p httpsig.Params, now time.Time) (store.RemoteActor, error) {
	check := func(a store.RemoteActor) error {
		pub, err := httpsig.ParsePublicKeyPEM(a.PublicPEM)
		if err != nil {
			return refuse(http.StatusUnauthorized, "key of %s: %v", a.URI, err)
		}
		if err := httpsig.Verify(r, body, p, pub, now, s.cfg.Window); err != nil {
			return &Refusal{Status: http.StatusUnauthorized, Reason: err.Error(), Err: err}
		}
		return nil
	}
	known, err := s.cfg.Store.RemoteActorByKey(ctx, p.KeyID)
	if err == nil {
		err = check(known)
		if !errors.Is(err, httpsig.ErrBadSignature) {
			return known, err
		}
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.RemoteActor{}, err
	}
	// Unknown key, or a signature the known key does not verify: the
	// actor's document says which key is current.
	actorURI, _, _ := strings.Cut(p.KeyID, "#")
	a, err := s.FetchActor(ctx, actorURI)
	if err != nil {
		return store.RemoteActor{}, refuse(http.StatusUnauthorized, "cannot check the signature: %v", err)
	}
	if a.KeyID != p.KeyID {
		return store.RemoteActor{}, refuse(http.StatusUnauthorized, "key %s is not the key of %s (%s)", p.KeyID, a.URI, a.KeyID)
	}
	return a, check(a)
}

// act does what an accepted activity asks.
func (s *Service) act(ctx context.Context, from store.RemoteActor, in ap.Incoming) error {
	switch in.Type {
	case "Follow":
		target, err := s.localByID(ctx, in.Object.ID)
		if errors.Is(err, errHidden) {
			return refuse(http.StatusNotFound, "%s is not an actor of this server", in.Object.ID)
		}
		if err != nil {
			return err
		}
		inbox := from.SharedInbox
		if inbox == "" {
			inbox = from.Inbox
		}
		if err := s.cfg.Store.AddFollower(ctx, store.Follower{Actor: target.Key, Follower: from.URI, FollowID: in.ID, Inbox: inbox}); err != nil {
			return err
		}
		accept := ap.Accept(target.ID+"#accepts/"+randomID(), target.ID, in)
		s.log.Info("new follower", "actor", target.ID, "follower", from.URI)
		return s.enqueue(ctx, target.Key, []string{from.Inbox}, accept)
	case "Undo":
		if in.Object.Type != "" && in.Object.Type != "Follow" {
			return nil
		}
		if in.Object.Actor != "" && in.Object.Actor != from.URI {
			return refuse(http.StatusForbidden, "an Undo of another actor's activity")
		}
		target := in.Object.Object
		if target == "" {
			return nil
		}
		l, err := s.localByID(ctx, target)
		if errors.Is(err, errHidden) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := s.cfg.Store.RemoveFollower(ctx, l.Key, from.URI); err != nil {
			return err
		}
		s.log.Info("follower left", "actor", l.ID, "follower", from.URI)
		return nil
	case "Accept", "Reject":
		state := "accepted"
		if in.Type == "Reject" {
			state = "rejected"
		}
		f, err := s.cfg.Store.SetFollowingState(ctx, in.Object.ID, state)
		if errors.Is(err, store.ErrNotFound) {
			return nil // not a Follow of ours: nothing to do
		}
		if err != nil {
			return err
		}
		if f.Target != from.URI {
			return refuse(http.StatusForbidden, "%s answered a follow of %s", from.URI, f.Target)
		}
		if state == "accepted" && f.MirrorProjectID != 0 && s.cfg.Mirrors != nil {
			s.cfg.Mirrors.Poke(f.MirrorProjectID)
		}
		return nil
	case "Create", "Update":
		// A new version of a project we mirror: refresh the mirrors.
		author := from.URI
		if in.Object.Raw != nil {
			var o struct {
				AttributedTo json.RawMessage `json:"attributedTo"`
			}
			if json.Unmarshal(in.Object.Raw, &o) == nil && len(o.AttributedTo) > 0 {
				var a string
				if json.Unmarshal(o.AttributedTo, &a) == nil && a != from.URI {
					return refuse(http.StatusForbidden, "%s announced an object attributed to %s", from.URI, a)
				}
			}
		}
		ms, err := s.cfg.Store.Mirrors(ctx, false, author)
		if err != nil {
			return err
		}
		for _, m := range ms {
			if err := s.cfg.Store.MirrorDue(ctx, m.ProjectID); err != nil {
				return err
			}
			if s.cfg.Mirrors != nil {
				s.cfg.Mirrors.Poke(m.ProjectID)
			}
			s.log.Info("origin announced a new version; refreshing its mirror", "origin", author, "mirror", m.Project)
		}
		return nil
	}
	return nil
}
