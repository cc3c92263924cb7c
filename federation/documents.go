package federation

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/federation/ap"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// sendAP answers an ActivityPub document.
func sendAP(c echo.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Vary", "Accept")
	c.Response().Header().Set("Cache-Control", "max-age=60")
	return c.Blob(http.StatusOK, ap.ContentType+"; charset=utf-8", b)
}

func (s *Service) fail(c echo.Context, err error) error {
	if errors.Is(err, errHidden) {
		return echo.NewHTTPError(http.StatusNotFound, "no such actor")
	}
	s.log.Error("federation request", "path", c.Request().URL.Path, "err", err)
	return echo.NewHTTPError(http.StatusInternalServerError, "internal error")
}

// webfinger answers RFC 7033 queries for acct: names and actor or page
// URLs of this server.
func (s *Service) webfinger(c echo.Context) error {
	c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	res := c.QueryParam("resource")
	if res == "" {
		return echo.NewHTTPError(http.StatusBadRequest, "resource parameter missing (RFC 7033 §4.2)")
	}
	var owner, project string
	switch {
	case strings.HasPrefix(res, "acct:") || (strings.Contains(res, "@") && !strings.Contains(res, "://")):
		user, host, ok := ap.ParseAcct(res)
		if !ok || !strings.EqualFold(host, s.site.Host()) {
			return echo.NewHTTPError(http.StatusNotFound, "not an account of this server")
		}
		if user == ap.InstanceUsername {
			return s.instanceWebFinger(c)
		}
		if owner, project, ok = ap.SplitUsername(user); !ok {
			return echo.NewHTTPError(http.StatusNotFound, "no such account")
		}
	default:
		var ok bool
		if owner, project, ok = s.site.Local(res); !ok {
			// A people's page: /{owner} or /{owner}/{project}.
			rest, found := strings.CutPrefix(res, s.site.Origin+"/")
			parts := strings.Split(strings.Trim(rest, "/"), "/")
			if !found || len(parts) > 2 || parts[0] == "" {
				return echo.NewHTTPError(http.StatusNotFound, "not an actor of this server")
			}
			owner = parts[0]
			if len(parts) == 2 {
				project = parts[1]
			}
		}
	}
	var l local
	var err error
	if project == "" {
		l, err = s.localUser(c.Request().Context(), owner)
	} else {
		l, err = s.localProject(c.Request().Context(), owner, project)
	}
	if err != nil {
		return s.fail(c, err)
	}
	var doc ap.JRD
	if l.Project.ID == 0 {
		doc = s.site.WebFingerDoc(l.User.Name, "")
	} else {
		doc = s.site.WebFingerDoc(l.Project.Owner, l.Project.Name)
	}
	b, _ := json.Marshal(doc)
	return c.Blob(http.StatusOK, "application/jrd+json; charset=utf-8", b)
}

// instanceWebFinger answers acct:ap@host, the server's own actor.
func (s *Service) instanceWebFinger(c echo.Context) error {
	id := s.site.InstanceActor()
	b, _ := json.Marshal(ap.JRD{Subject: "acct:" + ap.InstanceUsername + "@" + s.site.Host(), Aliases: []string{id},
		Links: []ap.Link{{Rel: "self", Type: ap.ContentType, Href: id}}})
	return c.Blob(http.StatusOK, "application/jrd+json; charset=utf-8", b)
}

// instanceActor is the server's own actor document. It is never behind
// --authorized-fetch: servers checking this server's signed fetches need
// its key first.
func (s *Service) instanceActor(c echo.Context) error {
	_, pub, err := s.key(c.Request().Context(), instanceKey)
	if err != nil {
		return s.fail(c, err)
	}
	return sendAP(c, s.site.InstanceActorDoc(pub))
}

// instanceCollection answers the instance actor's collections: empty.
func (s *Service) instanceCollection(c echo.Context) error {
	switch col := c.Param("collection"); col {
	case "outbox", "followers", "following":
		return sendAP(c, ap.OrderedCollection(s.site.InstanceActor()+"/"+col, 0, nil))
	}
	return echo.NewHTTPError(http.StatusNotFound, "no such collection")
}

func (s *Service) nodeinfoLinks(c echo.Context) error {
	c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	return c.JSON(http.StatusOK, s.site.NodeInfoLinks())
}

func (s *Service) nodeinfo(c echo.Context) error {
	ctx := c.Request().Context()
	users, err := s.cfg.Store.Users(ctx)
	if err != nil {
		return s.fail(c, err)
	}
	n := 0
	for _, u := range users {
		if u.Disabled == nil {
			n++
		}
	}
	projects, err := s.cfg.Store.CountProjects(ctx)
	if err != nil {
		return s.fail(c, err)
	}
	c.Response().Header().Set("Access-Control-Allow-Origin", "*")
	doc := ap.NodeInfoDoc(s.cfg.Version, ap.Usage{Users: n, Projects: projects, OpenRegistrations: s.cfg.OpenSignup, Name: s.site.Host()})
	b, _ := json.Marshal(doc)
	return c.Blob(http.StatusOK, `application/json; profile="http://nodeinfo.diaspora.software/ns/schema/2.1#"`, b)
}

func (s *Service) userActor(c echo.Context) error {
	ctx := c.Request().Context()
	l, err := s.localUser(ctx, c.Param("name"))
	if err != nil {
		return s.fail(c, err)
	}
	_, pub, err := s.key(ctx, l.Key)
	if err != nil {
		return s.fail(c, err)
	}
	u := l.User
	return sendAP(c, s.site.UserActorDoc(ap.UserInfo{Name: u.Name, DisplayName: u.DisplayName, Bio: u.Bio, Org: u.IsOrg(), Created: u.Created}, pub))
}

// projectInfo is what the documents say about a project.
func (s *Service) projectInfo(ctx context.Context, l local) ap.ProjectInfo {
	p := l.Project
	info := ap.ProjectInfo{Owner: p.Owner, Name: p.Name, Description: p.Description, Created: p.Created, License: "none"}
	if m, err := s.cfg.Store.ProjectMeta(ctx, p.FullName()); err == nil {
		info.Title, info.License = m.Title, m.License
		if info.Description == "" {
			info.Description = m.Description
		}
	}
	if m, err := s.cfg.Store.MirrorOf(ctx, p.ID); err == nil {
		info.Origin = m.URL
	}
	return info
}

func (s *Service) projectActor(c echo.Context) error {
	ctx := c.Request().Context()
	l, err := s.localProject(ctx, c.Param("owner"), c.Param("project"))
	if err != nil {
		return s.fail(c, err)
	}
	_, pub, err := s.key(ctx, l.Key)
	if err != nil {
		return s.fail(c, err)
	}
	return sendAP(c, s.site.ProjectActorDoc(s.projectInfo(ctx, l), pub))
}

func (s *Service) userCollection(c echo.Context) error {
	l, err := s.localUser(c.Request().Context(), c.Param("name"))
	if err != nil {
		return s.fail(c, err)
	}
	return s.collection(c, l)
}

func (s *Service) projectCollection(c echo.Context) error {
	l, err := s.localProject(c.Request().Context(), c.Param("owner"), c.Param("project"))
	if err != nil {
		return s.fail(c, err)
	}
	return s.collection(c, l)
}

// collection answers an actor's outbox, followers or following.
func (s *Service) collection(c echo.Context, l local) error {
	ctx := c.Request().Context()
	id := l.ID + "/" + c.Param("collection")
	switch c.Param("collection") {
	case "outbox":
		pubs, n, err := s.cfg.Store.Outbox(ctx, l.Key, 20)
		if err != nil {
			return s.fail(c, err)
		}
		items := make([]any, 0, len(pubs))
		for _, p := range pubs {
			items = append(items, json.RawMessage(p.Body))
		}
		return sendAP(c, ap.OrderedCollection(id, n, items))
	case "followers":
		fs, err := s.cfg.Store.Followers(ctx, l.Key)
		if err != nil {
			return s.fail(c, err)
		}
		// Counts only: who follows whom is not published.
		return sendAP(c, ap.OrderedCollection(id, len(fs), nil))
	case "following":
		n := 0
		if l.Project.ID == 0 {
			fs, err := s.cfg.Store.FollowingOf(ctx, l.User.ID)
			if err != nil {
				return s.fail(c, err)
			}
			n = len(fs)
		}
		return sendAP(c, ap.OrderedCollection(id, n, nil))
	case "inbox":
		return echo.NewHTTPError(http.StatusMethodNotAllowed, "the inbox takes signed POSTs from other servers")
	}
	return echo.NewHTTPError(http.StatusNotFound, "no such collection")
}

// versionNote serves a Note published about a version, at its id.
func (s *Service) versionNote(c echo.Context) error {
	ctx := c.Request().Context()
	l, err := s.localProject(ctx, c.Param("owner"), c.Param("project"))
	if err != nil {
		return s.fail(c, err)
	}
	id := s.site.VersionNote(l.Project.Owner, l.Project.Name, c.Param("commit"))
	p, err := s.cfg.Store.PublishedObject(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return echo.NewHTTPError(http.StatusNotFound, "no note about that version")
	}
	if err != nil {
		return s.fail(c, err)
	}
	var act struct {
		Object json.RawMessage `json:"object"`
	}
	if err := json.Unmarshal([]byte(p.Body), &act); err != nil {
		return s.fail(c, err)
	}
	var note ap.Note
	if err := json.Unmarshal(act.Object, &note); err != nil {
		return s.fail(c, err)
	}
	return sendAP(c, note.WithContext())
}
