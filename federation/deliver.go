package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// enqueue queues activity for each distinct inbox, signed by the local
// actor when sent. Inboxes of blocked servers are skipped.
func (s *Service) enqueue(ctx context.Context, actor string, inboxes []string, activity any) error {
	body, err := json.Marshal(activity)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for _, in := range inboxes {
		if in == "" || seen[in] {
			continue
		}
		seen[in] = true
		if blocked, err := s.cfg.Store.Blocked(ctx, hostOf(in)); err != nil {
			return err
		} else if blocked {
			continue
		}
		if err := s.cfg.Store.EnqueueAPDelivery(ctx, actor, in, string(body)); err != nil {
			return err
		}
	}
	s.poke()
	return nil
}

// deliveryLease is how long a node holds a delivery it is sending.
const deliveryLease = 2 * time.Minute

// Run sends queued deliveries until ctx ends: due ones at once, then it
// waits for a new one (in this process) or checks again every second
// (queued by another node or a command).
func (s *Service) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			d, err := s.cfg.Store.ClaimAPDelivery(ctx, s.cfg.Node, deliveryLease)
			if errors.Is(err, store.ErrNotFound) {
				break
			}
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("claim delivery", "err", err)
				}
				break
			}
			s.deliver(ctx, d)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.wake:
		case <-tick.C:
		}
	}
}

// deliver sends one delivery and records the outcome: sent; failed for
// good (a 4xx other than 408 and 429, or out of attempts); or due again
// after a doubling wait.
func (s *Service) deliver(ctx context.Context, d store.APDelivery) {
	err := s.post(ctx, d.Actor, d.Inbox, []byte(d.Body))
	giveUp := false
	var msg string
	if err != nil {
		msg = err.Error()
		var pe *postError
		if errors.As(err, &pe) && pe.status >= 400 && pe.status < 500 && pe.status != http.StatusRequestTimeout && pe.status != http.StatusTooManyRequests {
			giveUp = true
		}
		if d.Attempts >= s.cfg.MaxAttempts {
			giveUp = true
		}
	}
	wait := s.cfg.Backoff << min(d.Attempts-1, 12)
	if err := s.cfg.Store.FinishAPDelivery(context.WithoutCancel(ctx), d.ID, msg, giveUp, s.cfg.Now().Add(wait)); err != nil {
		s.log.Warn("record delivery", "id", d.ID, "err", err)
	}
	switch {
	case err == nil:
		s.log.Debug("delivered", "inbox", d.Inbox, "actor", d.Actor)
	case giveUp:
		s.log.Warn("delivery failed for good", "inbox", d.Inbox, "attempts", d.Attempts, "err", err)
	default:
		s.log.Info("delivery failed; will retry", "inbox", d.Inbox, "attempt", d.Attempts, "in", wait, "err", err)
	}
}

type postError struct {
	status int
	text   string
}

func (e *postError) Error() string { return e.text }

// post signs body as the local actor and posts it to inbox.
func (s *Service) post(ctx context.Context, actor, inbox string, body []byte) error {
	key, _, err := s.key(ctx, actor)
	if err != nil {
		return err
	}
	id, err := s.actorID(ctx, actor)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, inbox, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", ap.LDContentType)
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	if err := httpsig.Sign(req, body, ap.KeyID(id), key, s.cfg.Now()); err != nil {
		return err
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
	if resp.StatusCode/100 != 2 {
		return &postError{status: resp.StatusCode, text: fmt.Sprintf("%s answered %s: %s", inbox, resp.Status, bytes.TrimSpace(msg))}
	}
	return nil
}

// actorID is the current id of a local actor key (names may have changed
// since the delivery was queued).
func (s *Service) actorID(ctx context.Context, actor string) (string, error) {
	var id int64
	if _, err := fmt.Sscanf(actor, "user:%d", &id); err == nil {
		u, err := s.cfg.Store.UserByID(ctx, id)
		if err != nil {
			return "", err
		}
		return s.site.UserActor(u.Name), nil
	}
	if _, err := fmt.Sscanf(actor, "project:%d", &id); err == nil {
		p, err := s.cfg.Store.ProjectByID(ctx, id)
		if err != nil {
			return "", err
		}
		return s.site.ProjectActor(p.Owner, p.Name), nil
	}
	return "", fmt.Errorf("local actor %q: unknown kind", actor)
}
