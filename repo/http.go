package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/access"
	"github.com/blueprints-hq/blueprints/internal/store"
)

// Register adds the smart-HTTP git routes to e:
//
//	GET  /:owner/:project/info/refs?service=git-upload-pack|git-receive-pack
//	POST /:owner/:project/git-upload-pack
//	POST /:owner/:project/git-receive-pack
//
// The project segment may end in ".git". Other packages' routes under
// /:owner/:project/ must use the same parameter names.
func (s *Server) Register(e *echo.Echo) {
	e.GET("/:owner/:project/info/refs", s.infoRefs)
	e.POST("/:owner/:project/git-upload-pack", s.uploadPack)
	e.POST("/:owner/:project/git-receive-pack", s.receivePack)
}

const (
	serviceUpload  = "git-upload-pack"
	serviceReceive = "git-receive-pack"
)

// uploadConfig and receiveConfig are given to every git run with -c, so
// they hold for all repositories without touching each one's config.
var uploadConfig = []string{"uploadpack.allowFilter=true"}

// advertiseConfig is given to the receive-pack advertisement: push
// options ("git push -o visibility=private") are offered to clients.
var advertiseConfig = []string{"receive.advertisePushOptions=true"}

func (s *Server) receiveConfig() []string {
	return []string{
		"core.hooksPath=" + s.hooksDir,
		"receive.fsckObjects=true",
		"receive.advertiseAtomic=true",
		"receive.denyNonFastForwards=false",
		"receive.denyDeletes=false",
		"receive.denyDeleteCurrent=false",
		"receive.advertisePushOptions=true",
	}
}

func (s *Server) infoRefs(c echo.Context) error {
	service := c.QueryParam("service")
	if service != serviceUpload && service != serviceReceive {
		return c.String(http.StatusBadRequest, "only git's smart HTTP protocol is served: use git 1.6.6 or newer\n")
	}
	v, err := s.Viewer(c)
	if err != nil {
		return authError(c, err)
	}
	owner, name := c.Param("owner"), trimGit(c.Param("project"))
	if err := badName(owner, name); err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	ctx := c.Request().Context()
	p, err := s.store.ProjectByName(ctx, owner, name)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return err
	}
	if missing {
		// A renamed or transferred project: its old remote URL moves on
		// (git follows the redirect of this first request and uses the
		// new URL for the rest, saying so).
		if done, err := s.redirectMoved(c, v, owner, name); done || err != nil {
			return err
		}
	}
	dir := ""
	if service == serviceUpload {
		if missing {
			return notFound(c, v, owner, name)
		}
		d, err := s.policy.Decide(ctx, v, access.Read, p)
		if err != nil {
			return err
		}
		if d != access.Allow {
			return notFound(c, v, owner, name)
		}
		dir = s.Path(p.Owner, p.Name)
	} else {
		if v.Anonymous() {
			return Challenge(c, "pushing needs a user name and access token")
		}
		if missing {
			if err := ValidOwner(owner); err != nil {
				return c.String(http.StatusBadRequest, err.Error()+"\n")
			}
			d, err := s.policy.CreateIn(ctx, v, owner)
			if err != nil {
				return err
			}
			if d != access.Allow {
				s.pushed("rejected")
				return c.String(http.StatusForbidden, createRefusal(v, owner, name))
			}
			dir = s.emptyRepo // push-to-create: the project is made when the pack arrives
		} else {
			if ok, err := s.mayPush(c, v, p); !ok || err != nil {
				return err
			}
			dir = s.Path(p.Owner, p.Name)
		}
	}

	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-"+service+"-advertisement")
	noCache(h)
	proto := gitProtocol(c.Request())
	var pre []byte
	if !strings.Contains(proto, "version=2") {
		line := "# service=" + service + "\n"
		pre = fmt.Appendf(nil, "%04x%s0000", len(line)+4, line)
	}
	var cfg []string
	if service == serviceUpload {
		cfg = s.uploadCfg
	} else {
		cfg = advertiseConfig
	}
	_, err = s.runGit(c, gitCall{cfg: cfg, sub: strings.TrimPrefix(service, "git-"), dir: dir, proto: proto, pre: pre, advertise: true})
	return err
}

// createRefusal says why v may not create owner/name.
func createRefusal(v access.Viewer, owner, name string) string {
	if v.ReadOnly {
		return "your access token (" + v.Name + ") has scope read: it cannot push; make a token with scope write\n"
	}
	return "you (" + v.Name + ") may not create projects under " + owner + ": push to your own name or to an organisation you own\n"
}

// mayPush answers a push to p that v may not make (and returns false):
// 404 when v may not see p, 403 when v may see but not push.
func (s *Server) mayPush(c echo.Context, v access.Viewer, p store.Project) (bool, error) {
	d, err := s.policy.Decide(c.Request().Context(), v, access.Write, p)
	if err != nil {
		return false, err
	}
	switch d {
	case access.Allow:
		return true, nil
	case access.Hide:
		// Answer as a push to a project that does not exist: a challenge
		// when anonymous, otherwise the refusal to create it.
		if v.Anonymous() {
			return false, notFound(c, v, c.Param("owner"), trimGit(c.Param("project")))
		}
		s.pushed("rejected")
		return false, c.String(http.StatusForbidden, createRefusal(v, c.Param("owner"), trimGit(c.Param("project"))))
	case access.SignIn:
		return false, Challenge(c, "pushing needs a user name and access token")
	}
	s.pushed("rejected")
	if v.ReadOnly {
		return false, c.String(http.StatusForbidden, "your access token ("+v.Name+") has scope read: it cannot push to "+p.FullName()+"; make a token with scope write\n")
	}
	return false, c.String(http.StatusForbidden, "you ("+v.Name+") may not push to "+p.FullName()+"\n")
}

// redirectMoved answers a request to a project's old name with a
// permanent redirect to its new one, when the viewer may read it.
func (s *Server) redirectMoved(c echo.Context, v access.Viewer, owner, name string) (bool, error) {
	ctx := c.Request().Context()
	p, err := s.store.ProjectByRedirect(ctx, owner, name)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if ok, err := s.policy.Can(ctx, v, access.Read, p); !ok || err != nil {
		return false, err
	}
	return true, c.Redirect(http.StatusMovedPermanently, MovedURL(c.Request().URL, p))
}

// MovedURL is u (a request for a project's old name) with its first two
// path segments replaced by p's owner and name, keeping a ".git" suffix,
// the rest of the path and the query.
func MovedURL(u *url.URL, p store.Project) string {
	segs := strings.SplitN(strings.TrimPrefix(u.EscapedPath(), "/"), "/", 3)
	name := url.PathEscape(p.Name)
	if len(segs) > 1 && strings.HasSuffix(strings.ToLower(segs[1]), ".git") {
		name += ".git"
	}
	out := "/" + url.PathEscape(p.Owner) + "/" + name
	if len(segs) > 2 {
		out += "/" + segs[2]
	} else if strings.HasSuffix(u.Path, "/") && len(segs) == 2 {
		out += "/"
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

func (s *Server) uploadPack(c echo.Context) error {
	v, err := s.Viewer(c)
	if err != nil {
		return authError(c, err)
	}
	owner, name := c.Param("owner"), trimGit(c.Param("project"))
	if err := badName(owner, name); err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	p, err := s.store.ProjectByName(c.Request().Context(), owner, name)
	if errors.Is(err, store.ErrNotFound) {
		return notFound(c, v, owner, name)
	}
	if err != nil {
		return err
	}
	if ok, err := s.policy.Can(c.Request().Context(), v, access.Read, p); err != nil {
		return err
	} else if !ok {
		return notFound(c, v, owner, name)
	}
	body, err := requestBody(c.Request())
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	defer body.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-git-upload-pack-result")
	noCache(h)
	call := gitCall{cfg: s.uploadCfg, sub: "upload-pack", dir: s.Path(p.Owner, p.Name), proto: gitProtocol(c.Request()), stdin: body}
	if s.answers.MaxBytes > 0 {
		return s.uploadPackCached(c, call)
	}
	_, err = s.runGit(c, call)
	return err
}

func (s *Server) receivePack(c echo.Context) error {
	v, err := s.Viewer(c)
	if err != nil {
		return authError(c, err)
	}
	if v.Anonymous() {
		return Challenge(c, "pushing needs a user name and access token")
	}
	owner, name := c.Param("owner"), trimGit(c.Param("project"))
	if err := badName(owner, name); err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	ctx := c.Request().Context()
	unlock, err := s.LockProject(ctx, owner, name)
	if err != nil {
		return err
	}
	defer unlock()

	p, err := s.store.ProjectByName(ctx, owner, name)
	created := false
	switch {
	case errors.Is(err, store.ErrNotFound):
		if err := ValidOwner(owner); err != nil {
			return c.String(http.StatusBadRequest, err.Error()+"\n")
		}
		d, err := s.policy.CreateIn(ctx, v, owner)
		if err != nil {
			return err
		}
		if d != access.Allow {
			s.pushed("rejected")
			return c.String(http.StatusForbidden, createRefusal(v, owner, name))
		}
		o, err := s.store.UserByName(ctx, owner)
		if err != nil {
			return err
		}
		if p, err = s.create(ctx, o.Name, name); err != nil {
			return err
		}
		created = true
		s.log.Info("project created by push", "project", p.FullName(), "user", v.Name)
	case err != nil:
		return err
	default:
		if ok, err := s.mayPush(c, v, p); !ok || err != nil {
			return err
		}
	}
	if created {
		// Undo a push-to-create that stored no ref (refused, or the pusher
		// went away), so failed pushes leave no empty projects behind.
		defer func() {
			bg := context.WithoutCancel(ctx)
			if s.hasRefs(bg, s.Path(p.Owner, p.Name)) {
				return
			}
			if err := s.remove(bg, p); err != nil {
				s.log.Warn("remove project after failed push-to-create", "project", p.FullName(), "err", err)
			}
		}()
	}

	body, err := requestBody(c.Request())
	if err != nil {
		return c.String(http.StatusBadRequest, err.Error()+"\n")
	}
	defer body.Close()
	h := c.Response().Header()
	h.Set(echo.HeaderContentType, "application/x-git-receive-pack-result")
	noCache(h)
	base, _ := s.public.Origin(c.Request())
	env := s.hookEnv(p, v.Name, base, created)
	_, err = s.runGit(c, gitCall{cfg: s.receiveConfig(), sub: "receive-pack", dir: s.Path(p.Owner, p.Name), env: env, stdin: body})
	return err
}

func badName(owner, name string) error {
	if err := ValidName(owner); err != nil {
		return err
	}
	return ValidName(name)
}

// gitCall is a run of "git -c CFG... SUB --stateless-rpc [--advertise-refs]
// DIR" with GIT_PROTOCOL=proto and env, fed stdin, its output sent after
// pre; tee, when set, gets a copy of the whole output (but pre).
type gitCall struct {
	cfg       []string
	sub, dir  string
	proto     string
	env       []string
	stdin     io.Reader
	pre       []byte
	advertise bool
	tee       io.Writer
}

// runGit runs g, streaming its output to the response and flushing as it
// goes so nothing is buffered whole. It reports whether git succeeded.
func (s *Server) runGit(c echo.Context, g gitCall) (bool, error) {
	cfg, sub, dir, proto, env, stdin, pre, advertise := g.cfg, g.sub, g.dir, g.proto, g.env, g.stdin, g.pre, g.advertise
	ctx := c.Request().Context()
	args := make([]string, 0, 2*len(cfg)+4)
	for _, kv := range cfg {
		args = append(args, "-c", kv)
	}
	args = append(args, sub, "--stateless-rpc")
	if advertise {
		args = append(args, "--advertise-refs")
	}
	args = append(args, dir)
	cmd := exec.CommandContext(ctx, s.git, args...)
	// When the client goes away, let git clean up (quarantine, lock files)
	// rather than killing it outright.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.SysProcAttr = gitProcAttr()
	cmd.Env = append(os.Environ(), env...)
	cmd.Env = append(cmd.Env, "GIT_TERMINAL_PROMPT=0")
	if proto != "" {
		cmd.Env = append(cmd.Env, "GIT_PROTOCOL="+proto)
	}
	var in *bodyReader
	if stdin != nil {
		in = &bodyReader{r: stdin}
		cmd.Stdin = in
	}
	var stderr limitedBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return false, err
	}
	// Git may answer before it has read the whole request (progress,
	// keep-alives); let the HTTP/1 server read and write at once.
	_ = http.NewResponseController(c.Response().Writer).EnableFullDuplex()
	if err := cmd.Start(); err != nil {
		return false, fmt.Errorf("start git %s: %w", sub, err)
	}
	if s.gitNice > 0 {
		// Right after the start: git runs pack-objects or index-pack
		// only once it has read the request, so they inherit it.
		if err := setNice(cmd.Process.Pid, s.gitNice); err != nil {
			s.log.Debug("lower git's priority", "pid", cmd.Process.Pid, "err", err)
		}
	}
	w := &streamWriter{res: c.Response()}
	if len(pre) > 0 {
		w.Write(pre)
	}
	var out io.Reader = stdout
	if g.tee != nil {
		out = io.TeeReader(stdout, g.tee)
	}
	buf := make([]byte, 64<<10)
	_, copyErr := io.CopyBuffer(w, out, buf)
	if copyErr != nil {
		io.Copy(io.Discard, out)
	}
	waitErr := cmd.Wait()
	tooSlow := in != nil && errors.Is(in.err, os.ErrDeadlineExceeded)
	if waitErr != nil && tooSlow {
		s.log.Info("request body came too slowly; git stopped", "cmd", sub, "dir", dir, "remote", c.Request().RemoteAddr)
	} else if waitErr != nil && ctx.Err() == nil {
		s.log.Warn("git failed", "cmd", sub, "dir", dir, "err", waitErr, "stderr", strings.TrimSpace(stderr.String()))
		if sub == "receive-pack" && !advertise {
			s.pushed("error")
		}
	}
	if !w.started {
		if waitErr != nil && tooSlow {
			return false, c.String(http.StatusRequestTimeout, "the request came too slowly\n")
		}
		if waitErr != nil {
			return false, c.String(http.StatusInternalServerError, "git "+sub+" failed\n")
		}
		c.Response().WriteHeader(http.StatusOK)
	}
	return waitErr == nil, nil
}

// bodyReader remembers why reading the request body failed.
type bodyReader struct {
	r   io.Reader
	err error
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err != nil && err != io.EOF && b.err == nil {
		b.err = err
	}
	return n, err
}

// streamWriter sends the response header at the first write and flushes
// after every write.
type streamWriter struct {
	res     *echo.Response
	started bool
}

func (w *streamWriter) Write(p []byte) (int, error) {
	if !w.started {
		w.res.WriteHeader(http.StatusOK)
		w.started = true
	}
	n, err := w.res.Write(p)
	if err == nil {
		w.res.Flush()
	}
	return n, err
}

// limitedBuffer keeps the first 64 KiB written to it (git's stderr).
type limitedBuffer struct{ bytes.Buffer }

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := 64<<10 - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// noCache marks a git answer as one no cache keeps: refs and packs change
// with every push, and those of a private project are for its readers
// only ("private": a shared cache may otherwise keep an answer to a request
// with credentials when told must-revalidate).
func noCache(h http.Header) {
	h.Set("Expires", "Fri, 01 Jan 1980 00:00:00 GMT")
	h.Set("Pragma", "no-cache")
	h.Set("Cache-Control", "private, no-cache, max-age=0, must-revalidate")
}

// gitProtocol returns the Git-Protocol header (e.g. "version=2") when it
// holds only the characters git uses there; git reads it from GIT_PROTOCOL.
func gitProtocol(r *http.Request) string {
	v := r.Header.Get("Git-Protocol")
	if len(v) > 256 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("=:._-", c) >= 0) {
			return ""
		}
	}
	return v
}

// requestBody is the request body, gunzipped when git sent it compressed.
func requestBody(r *http.Request) (io.ReadCloser, error) {
	switch enc := r.Header.Get("Content-Encoding"); enc {
	case "", "identity":
		return r.Body, nil
	case "gzip", "x-gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, fmt.Errorf("read gzip request body: %w", err)
		}
		return zr, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", enc)
	}
}
