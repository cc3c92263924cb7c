package lfs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/publicurl"
	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// MediaType is the content type of every LFS API request and response.
const MediaType = "application/vnd.git-lfs+json"

// maxJSONBody bounds a batch or lock request body; git-lfs sends at most a
// few hundred objects per batch, about 100 bytes each.
const maxJSONBody = 10 << 20

// maxBatchObjects bounds the objects of one batch request.
const maxBatchObjects = 10000

// Config wires a Server.
type Config struct {
	// Store holds projects, users, LFS ownership and locks.
	Store *store.Store
	// Blobs keeps the objects, under BlobKey(oid).
	Blobs storage.Blobs
	// Repos authenticates requests (the same tokens as git), finds
	// projects and says who may push.
	Repos *repo.Server
	// Presign makes batch downloads point at presigned URLs when Blobs is
	// a storage.Presigner (S3), so downloads bypass the server.
	Presign bool
	// PresignTTL is how long a presigned URL lives (default 1 hour).
	PresignTTL time.Duration
	// Logger receives storage failures; slog.Default() when nil.
	Logger *slog.Logger
	// Meter, when set, counts object bytes received and sent (for metrics).
	Meter Meter
	// PublicURL is the origin of the hrefs batch answers give
	// (--public-url); without it, the address the client reached.
	PublicURL publicurl.Base
}

// Meter counts LFS object bytes: direction "in" for uploads received,
// "out" for downloads sent through the server.
type Meter interface {
	LFSBytes(direction string, n int64)
}

// Server answers the Git LFS API under /{owner}/{project}[.git]/info/lfs.
type Server struct {
	store      *store.Store
	blobs      storage.Blobs
	repos      *repo.Server
	presign    storage.Presigner // nil unless enabled and supported
	presignTTL time.Duration
	log        *slog.Logger
	buffers    sync.Pool // *[]byte of copyBufferSize, for downloads
	meter      Meter
	public     publicurl.Base
}

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Store == nil || cfg.Blobs == nil || cfg.Repos == nil {
		return nil, errors.New("new lfs server: store, blobs and repos are all needed")
	}
	s := &Server{
		store:      cfg.Store,
		blobs:      cfg.Blobs,
		repos:      cfg.Repos,
		presignTTL: cfg.PresignTTL,
		log:        cfg.Logger,
		meter:      cfg.Meter,
		public:     cfg.PublicURL,
	}
	s.buffers.New = func() any { b := make([]byte, copyBufferSize); return &b }
	if s.presignTTL <= 0 {
		s.presignTTL = time.Hour
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if p, ok := cfg.Blobs.(storage.Presigner); ok && cfg.Presign {
		s.presign = p
	}
	return s, nil
}

// Register adds the LFS routes to e. The project segment may end in ".git"
// (the URL git-lfs derives from the remote) or not.
func (s *Server) Register(e *echo.Echo) {
	const p = "/:owner/:project/info/lfs"
	e.POST(p+"/objects/batch", s.batch)
	e.PUT(p+"/objects/:oid", s.upload)
	e.GET(p+"/objects/:oid", s.download)
	e.HEAD(p+"/objects/:oid", s.download)
	e.POST(p+"/verify", s.verify)
	e.POST(p+"/locks", s.createLock)
	e.GET(p+"/locks", s.listLocks)
	e.POST(p+"/locks/verify", s.verifyLocks)
	e.POST(p+"/locks/:id/unlock", s.unlock)
}

// apiError is an LFS error response body.
type apiError struct {
	Message string `json:"message"`
}

// httpError is a failure with the status and message the client gets.
type httpError struct {
	code int
	msg  string
}

func (e *httpError) Error() string { return e.msg }

func fail(code int, format string, args ...any) *httpError {
	return &httpError{code: code, msg: fmt.Sprintf(format, args...)}
}

// writeJSON answers with an LFS JSON body.
func writeJSON(c echo.Context, code int, v any) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, MediaType)
	h.Set("X-Content-Type-Options", "nosniff")
	c.Response().WriteHeader(code)
	return json.NewEncoder(c.Response()).Encode(v)
}

// writeError answers err: an *httpError as it says, a 401 with the
// challenges git-lfs understands, anything else as a 500 (logged).
func (s *Server) writeError(c echo.Context, err error) error {
	var he *httpError
	if !errors.As(err, &he) {
		s.log.Error("lfs request failed", "method", c.Request().Method, "path", c.Request().URL.Path, "err", err)
		he = fail(http.StatusInternalServerError, "internal server error")
	}
	if he.code == http.StatusUnauthorized {
		challenge := `Basic realm="` + repo.Realm + `"`
		c.Response().Header().Set("LFS-Authenticate", challenge)
		c.Response().Header().Set(echo.HeaderWWWAuthenticate, challenge)
	}
	return writeJSON(c, he.code, apiError{Message: he.msg})
}

// storageError turns a blob-storage failure into the 503 the client sees
// (and logs the cause, which may name internal hosts).
func (s *Server) storageError(op string, err error) *httpError {
	s.log.Error("lfs blob storage failed", "op", op, "err", err)
	if errors.Is(err, storage.ErrUnavailable) {
		return fail(http.StatusServiceUnavailable, "blob storage is unavailable (%s); try again later", op)
	}
	return fail(http.StatusServiceUnavailable, "blob storage failed (%s); try again later", op)
}

// target is the project a request names and who is asking.
type target struct {
	user    store.User    // zero for an anonymous request
	project store.Project // zero when pending
	// pending is set for an upload into the caller's own project that
	// does not exist yet: the git push that follows the LFS upload will
	// create it (push-to-create), and adopt the objects then.
	pending bool
	owner   string // canonical owner (the caller's name when pending)
	name    string // project name without ".git"
}

// prefix is the LFS endpoint path of the target, "/owner/name.git/info/lfs".
func (t target) prefix() string { return "/" + t.owner + "/" + t.name + ".git/info/lfs" }

// resolve authenticates the request and finds the project, asking the
// access policy. With write, the caller must be allowed to push; with
// allowPending, a missing project the caller may create (under their own
// name or an organisation they own) is accepted as pending. A project the
// caller may not read answers exactly as a missing one: 401 for an
// anonymous caller (git-lfs sends credentials only after a challenge), 404
// otherwise.
func (s *Server) resolve(c echo.Context, write, allowPending bool) (target, error) {
	ctx := c.Request().Context()
	var t target
	v, err := s.repos.Viewer(c)
	if err != nil {
		if errors.Is(err, store.ErrBadCredentials) {
			return t, fail(http.StatusUnauthorized, "bad user name or access token")
		}
		return t, fmt.Errorf("authenticate: %w", err)
	}
	t.user = store.User{ID: v.ID, Name: v.Name, Admin: v.Admin}
	owner, project := c.Param("owner"), c.Param("project")
	hidden := func(name string) error {
		if v.Anonymous() {
			return fail(http.StatusUnauthorized, "project %s not found, or you need to sign in (user name and access token)", name)
		}
		return fail(http.StatusNotFound, "project %s not found", name)
	}
	policy := s.repos.Policy()
	p, err := s.repos.Project(ctx, owner, project)
	switch {
	case err == nil:
		t.project, t.owner, t.name = p, p.Owner, p.Name
	case errors.Is(err, repo.ErrInvalidName):
		return t, fail(http.StatusNotFound, "project %s/%s not found", owner, trimGit(project))
	case errors.Is(err, store.ErrNotFound):
		if allowPending && !v.Anonymous() && repo.ValidName(trimGit(project)) == nil {
			d, err := policy.CreateIn(ctx, v, owner)
			if err != nil {
				return t, fmt.Errorf("find project: %w", err)
			}
			if d == access.Allow {
				canonical := v.Name
				if !strings.EqualFold(owner, v.Name) {
					o, err := s.store.UserByName(ctx, owner)
					if err != nil {
						return t, fmt.Errorf("find owner: %w", err)
					}
					canonical = o.Name
				}
				return target{user: t.user, pending: true, owner: canonical, name: trimGit(project)}, nil
			}
		}
		return t, hidden(owner + "/" + trimGit(project))
	default:
		return t, fmt.Errorf("find project: %w", err)
	}
	need := access.Read
	if write {
		need = access.Write
	}
	d, err := policy.Decide(ctx, v, need, t.project)
	if err != nil {
		return t, fmt.Errorf("decide access: %w", err)
	}
	switch d {
	case access.Allow:
		return t, nil
	case access.Hide:
		return t, hidden(p.FullName())
	case access.SignIn:
		return t, fail(http.StatusUnauthorized, "authentication required to push to %s", p.FullName())
	}
	if v.ReadOnly {
		return t, fail(http.StatusForbidden, "%s's access token has scope read: it may not push to %s", v.Name, p.FullName())
	}
	return t, fail(http.StatusForbidden, "%s may not push to %s", v.Name, p.FullName())
}

func trimGit(name string) string {
	if len(name) > 4 && strings.EqualFold(name[len(name)-4:], ".git") {
		return name[:len(name)-4]
	}
	return name
}

// baseURL is the origin of the hrefs in an answer to c: --public-url, or
// the address the client reached (see publicurl).
func (s *Server) baseURL(c echo.Context) (string, error) {
	return s.public.Origin(c.Request())
}

// decodeJSON reads a bounded JSON request body into v.
func decodeJSON(c echo.Context, v any) error {
	body := http.MaxBytesReader(c.Response(), c.Request().Body, maxJSONBody)
	if err := json.NewDecoder(body).Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return fail(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", maxJSONBody)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return fail(http.StatusRequestTimeout, "the request body came too slowly")
		}
		return fail(http.StatusBadRequest, "malformed JSON request: %v", err)
	}
	return nil
}

// owns reports which of oids the target owns (or, pending, has uploaded).
func (s *Server) owns(ctx context.Context, t target, oids []string) (map[string]int64, error) {
	found := make(map[string]int64, len(oids))
	if t.pending {
		objs, err := s.store.PendingLFSObjects(ctx, t.owner, t.name, oids)
		if err != nil {
			return nil, err
		}
		for oid, o := range objs {
			found[oid] = o.Size
		}
		return found, nil
	}
	objs, err := s.store.LFSObjects(ctx, t.project.ID, oids)
	if err != nil {
		return nil, err
	}
	for oid, o := range objs {
		found[oid] = o.Size
	}
	return found, nil
}

// grant records that the target owns the object.
func (s *Server) grant(ctx context.Context, t target, oid string, size int64) error {
	if t.pending {
		return s.store.AddPendingLFSObject(ctx, t.owner, t.name, oid, size)
	}
	return s.store.AddLFSObject(ctx, t.project.ID, oid, size)
}
