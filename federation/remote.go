package federation

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/federation/httpsig"
	"github.com/blueprints-hq/blueprints/internal/store"
)

func randomID() string {
	var b [12]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// get fetches a document from another server through the guarded client,
// reading at most ap.MaxDocument bytes.
func (s *Service) get(ctx context.Context, u, accept string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	req.Header.Set("User-Agent", s.cfg.UserAgent)
	// Signed by the instance actor, so servers that answer only signed
	// fetches (Mastodon's secure mode, --authorized-fetch) answer.
	key, _, err := s.key(ctx, instanceKey)
	if err != nil {
		return nil, err
	}
	if err := httpsig.Sign(req, nil, ap.KeyID(s.site.InstanceActor()), key, s.cfg.Now()); err != nil {
		return nil, err
	}
	resp, err := s.cfg.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, ap.MaxDocument+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", u, err)
	}
	if len(b) > ap.MaxDocument {
		return nil, fmt.Errorf("GET %s: over %d bytes", u, ap.MaxDocument)
	}
	return b, nil
}

// FetchActor fetches a remote actor's document, checks it (ap.ParseActor)
// and keeps it in the store.
func (s *Service) FetchActor(ctx context.Context, uri string) (store.RemoteActor, error) {
	if err := ap.CheckIRI(uri); err != nil {
		return store.RemoteActor{}, fmt.Errorf("actor %q: %w", uri, err)
	}
	if blocked, err := s.cfg.Store.Blocked(ctx, hostOf(uri), uri); err != nil {
		return store.RemoteActor{}, err
	} else if blocked {
		return store.RemoteActor{}, fmt.Errorf("actor %s: its server is blocked here", uri)
	}
	b, err := s.get(ctx, uri, ap.ContentType+", "+ap.LDContentType)
	if err != nil {
		return store.RemoteActor{}, err
	}
	a, err := ap.ParseActor(uri, b)
	if err != nil {
		return store.RemoteActor{}, err
	}
	ra := store.RemoteActor{URI: a.ID, Type: a.Type, Username: a.PreferredUsername, Name: a.Name, Host: hostOf(a.ID),
		Inbox: a.Inbox, SharedInbox: a.SharedInbox, URL: a.URL, KeyID: a.KeyID, PublicPEM: a.PublicKeyPem, CloneURI: a.CloneURI}
	if err := s.cfg.Store.PutRemoteActor(ctx, ra); err != nil {
		return store.RemoteActor{}, err
	}
	return ra, nil
}

// Resolve finds a remote actor by what a person typed: an actor URL, or
// a WebFinger address ("alice..tractor@a.example", "@alice@a.example",
// "alice/tractor@a.example"). WebFinger is asked over https first, then
// over http (servers on a private network often have no certificate).
func (s *Service) Resolve(ctx context.Context, handle string) (store.RemoteActor, error) {
	handle = strings.TrimSpace(handle)
	if strings.HasPrefix(handle, "https://") || strings.HasPrefix(handle, "http://") {
		return s.FetchActor(ctx, handle)
	}
	user, host, ok := ap.ParseAcct(handle)
	if !ok {
		return store.RemoteActor{}, fmt.Errorf("%q is neither an actor URL nor an address like name@server", handle)
	}
	if strings.EqualFold(host, s.site.Host()) {
		return store.RemoteActor{}, fmt.Errorf("%s is on this server: follow it here", handle)
	}
	if strings.ContainsAny(host, "/?#@") {
		return store.RemoteActor{}, fmt.Errorf("%q: not a server name", host)
	}
	res := "acct:" + user + "@" + host
	var errs []error
	for _, scheme := range []string{"https", "http"} {
		u := scheme + "://" + host + "/.well-known/webfinger?resource=" + url.QueryEscape(res)
		b, err := s.get(ctx, u, "application/jrd+json, application/json")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		j, err := ap.ParseJRD(b)
		if err != nil {
			return store.RemoteActor{}, err
		}
		self := j.Self()
		if self == "" {
			return store.RemoteActor{}, fmt.Errorf("%s: the WebFinger answer links to no ActivityPub actor", handle)
		}
		if !ap.SameHost(self, scheme+"://"+host) {
			return store.RemoteActor{}, fmt.Errorf("%s: the WebFinger answer names an actor on another server (%s)", handle, self)
		}
		return s.FetchActor(ctx, self)
	}
	return store.RemoteActor{}, fmt.Errorf("%s: WebFinger: %w", handle, errors.Join(errs...))
}

// signedFetch wraps a document's handler: with AuthorizedFetch, the GET
// must be signed by a remote actor's key (checked as an inbox checks a
// POST: key fetched, date window, server and actor blocks).
func (s *Service) signedFetch(h echo.HandlerFunc) echo.HandlerFunc {
	if !s.cfg.AuthorizedFetch {
		return h
	}
	return func(c echo.Context) error {
		r := c.Request()
		ctx := r.Context()
		params, err := httpsig.Parse(r)
		if err != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, "this server answers signed fetches only: "+err.Error())
		}
		keyHost := hostOf(params.KeyID)
		if keyHost == "" || ap.CheckIRI(params.KeyID) != nil {
			return echo.NewHTTPError(http.StatusUnauthorized, fmt.Sprintf("key id %q is not an http(s) URL", params.KeyID))
		}
		if blocked, err := s.cfg.Store.Blocked(ctx, keyHost); err != nil {
			return s.fail(c, err)
		} else if blocked {
			return echo.NewHTTPError(http.StatusForbidden, "server "+keyHost+" is blocked here")
		}
		actor, err := s.verify(ctx, r, nil, params, s.cfg.Now())
		var ref *Refusal
		if errors.As(err, &ref) {
			s.log.Info("refused an unsigned or badly signed fetch", "path", r.URL.Path, "reason", ref.Reason)
			return echo.NewHTTPError(ref.Status, ref.Reason)
		}
		if err != nil {
			return s.fail(c, err)
		}
		if blocked, err := s.cfg.Store.Blocked(ctx, actor.URI); err != nil {
			return s.fail(c, err)
		} else if blocked {
			return echo.NewHTTPError(http.StatusForbidden, "actor "+actor.URI+" is blocked here")
		}
		return h(c)
	}
}
