package lfs

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
)

// Paging bounds of the lock lists.
const (
	defaultLockLimit = 100
	maxLockLimit     = 1000
	maxLockPath      = 4096
)

type lockJSON struct {
	ID       string    `json:"id"`
	Path     string    `json:"path"`
	LockedAt string    `json:"locked_at"`
	Owner    lockOwner `json:"owner"`
}

type lockOwner struct {
	Name string `json:"name"`
}

func toLockJSON(l store.LFSLock) lockJSON {
	return lockJSON{
		ID:       strconv.FormatInt(l.ID, 10),
		Path:     l.Path,
		LockedAt: l.Created.UTC().Format(time.RFC3339),
		Owner:    lockOwner{Name: l.Owner},
	}
}

type lockResponse struct {
	Lock    *lockJSON `json:"lock,omitempty"`
	Message string    `json:"message,omitempty"`
}

type createLockRequest struct {
	Path string   `json:"path"`
	Ref  *refSpec `json:"ref"`
}

// createLock locks a path for the caller, who must be allowed to push.
func (s *Server) createLock(c echo.Context) error {
	var req createLockRequest
	if err := decodeJSON(c, &req); err != nil {
		return s.writeError(c, err)
	}
	if req.Path == "" || len(req.Path) > maxLockPath || strings.ContainsAny(req.Path, "\x00\n\r") {
		return s.writeError(c, fail(http.StatusUnprocessableEntity, "invalid lock path: give a file path relative to the repository root, at most %d bytes", maxLockPath))
	}
	t, err := s.resolve(c, true, false)
	if err != nil {
		return s.writeError(c, err)
	}
	l, err := s.store.CreateLFSLock(c.Request().Context(), t.project.ID, req.Path, t.user.ID)
	if errors.Is(err, store.ErrExists) {
		j := toLockJSON(l)
		return writeJSON(c, http.StatusConflict, lockResponse{Lock: &j, Message: "already created lock: " + l.Path + " is locked by " + l.Owner})
	}
	if err != nil {
		return s.writeError(c, err)
	}
	j := toLockJSON(l)
	return writeJSON(c, http.StatusCreated, lockResponse{Lock: &j})
}

type listLocksResponse struct {
	Locks      []lockJSON `json:"locks"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// listLocks lists a project's locks; anyone who can read it may.
func (s *Server) listLocks(c echo.Context) error {
	q := c.QueryParams()
	f := store.LFSLockFilter{Path: q.Get("path")}
	var err error
	if f.After, err = parseCursor(q.Get("cursor")); err != nil {
		return s.writeError(c, err)
	}
	if f.Limit, err = parseLimit(q.Get("limit")); err != nil {
		return s.writeError(c, err)
	}
	if id := q.Get("id"); id != "" {
		n, err := strconv.ParseInt(id, 10, 64)
		if err != nil || n <= 0 {
			// No lock has such an id.
			return writeJSON(c, http.StatusOK, listLocksResponse{Locks: []lockJSON{}})
		}
		f.ID = n
	}
	t, err := s.resolve(c, false, false)
	if err != nil {
		return s.writeError(c, err)
	}
	locks, next, err := s.lockPage(c, t, f)
	if err != nil {
		return s.writeError(c, err)
	}
	resp := listLocksResponse{Locks: make([]lockJSON, 0, len(locks)), NextCursor: next}
	for _, l := range locks {
		resp.Locks = append(resp.Locks, toLockJSON(l))
	}
	return writeJSON(c, http.StatusOK, resp)
}

// lockPage fetches one page of locks and the cursor of the next, if any.
func (s *Server) lockPage(c echo.Context, t target, f store.LFSLockFilter) ([]store.LFSLock, string, error) {
	limit := f.Limit
	f.Limit = limit + 1
	locks, err := s.store.LFSLocks(c.Request().Context(), t.project.ID, f)
	if err != nil {
		return nil, "", err
	}
	next := ""
	if len(locks) > limit {
		locks = locks[:limit]
		next = strconv.FormatInt(locks[limit-1].ID, 10)
	}
	return locks, next, nil
}

func parseCursor(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fail(http.StatusBadRequest, "invalid cursor %q: use the next_cursor of the previous page", s)
	}
	return n, nil
}

func parseLimit(s string) (int, error) {
	if s == "" {
		return defaultLockLimit, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fail(http.StatusBadRequest, "invalid limit %q: want a positive number", s)
	}
	if n == 0 {
		return defaultLockLimit, nil
	}
	return min(n, maxLockLimit), nil
}

type verifyLocksRequest struct {
	Cursor string   `json:"cursor"`
	Limit  int      `json:"limit"`
	Ref    *refSpec `json:"ref"`
}

type verifyLocksResponse struct {
	Ours       []lockJSON `json:"ours"`
	Theirs     []lockJSON `json:"theirs"`
	NextCursor string     `json:"next_cursor,omitempty"`
}

// verifyLocks lists the locks a push must respect, split into the caller's
// and everyone else's. git-lfs calls it before every push.
func (s *Server) verifyLocks(c echo.Context) error {
	var req verifyLocksRequest
	if err := decodeJSON(c, &req); err != nil {
		return s.writeError(c, err)
	}
	after, err := parseCursor(req.Cursor)
	if err != nil {
		return s.writeError(c, err)
	}
	limit := defaultLockLimit
	if req.Limit > 0 {
		limit = min(req.Limit, maxLockLimit)
	}
	t, err := s.resolve(c, true, true)
	if err != nil {
		return s.writeError(c, err)
	}
	resp := verifyLocksResponse{Ours: []lockJSON{}, Theirs: []lockJSON{}}
	if t.pending {
		// A project about to be created by this push has no locks.
		return writeJSON(c, http.StatusOK, resp)
	}
	locks, next, err := s.lockPage(c, t, store.LFSLockFilter{After: after, Limit: limit})
	if err != nil {
		return s.writeError(c, err)
	}
	resp.NextCursor = next
	for _, l := range locks {
		if l.UserID == t.user.ID {
			resp.Ours = append(resp.Ours, toLockJSON(l))
		} else {
			resp.Theirs = append(resp.Theirs, toLockJSON(l))
		}
	}
	return writeJSON(c, http.StatusOK, resp)
}

type unlockRequest struct {
	Force bool     `json:"force"`
	Ref   *refSpec `json:"ref"`
}

// unlock removes a lock: the caller's own, or anyone's with force.
func (s *Server) unlock(c echo.Context) error {
	var req unlockRequest
	if c.Request().ContentLength != 0 {
		if err := decodeJSON(c, &req); err != nil {
			return s.writeError(c, err)
		}
	}
	t, err := s.resolve(c, true, false)
	if err != nil {
		return s.writeError(c, err)
	}
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return s.writeError(c, fail(http.StatusNotFound, "lock %q not found", c.Param("id")))
	}
	ctx := c.Request().Context()
	l, err := s.store.LFSLock(ctx, t.project.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.writeError(c, fail(http.StatusNotFound, "lock %d not found", id))
	}
	if err != nil {
		return s.writeError(c, err)
	}
	if l.UserID != t.user.ID && !req.Force {
		return s.writeError(c, fail(http.StatusForbidden, "%s is locked by %s; only they can unlock it, or unlock with --force", l.Path, l.Owner))
	}
	l, err = s.store.DeleteLFSLock(ctx, t.project.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return s.writeError(c, fail(http.StatusNotFound, "lock %d not found", id))
	}
	if err != nil {
		return s.writeError(c, err)
	}
	if l.UserID != t.user.ID {
		s.log.Info("lfs lock broken by force", "project", t.project.FullName(), "path", l.Path, "owner", l.Owner, "by", t.user.Name)
	}
	j := toLockJSON(l)
	return writeJSON(c, http.StatusOK, lockResponse{Lock: &j})
}
