package repo

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/repo/packcache"
)

// uploadPackCached answers a fetch (call, an upload-pack run) from the
// pack cache's answers when the request is a plain clone of ref tips
// whose answer is kept (see packcache.Fetch), without running git; else it
// runs git and, for such a clone, keeps git's answer for the next one.
func (s *Server) uploadPackCached(c echo.Context, call gitCall) error {
	ctx := c.Request().Context()
	head, err := io.ReadAll(io.LimitReader(call.stdin, packcache.MaxFetchRequest+1))
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return c.String(http.StatusRequestTimeout, "the request came too slowly\n")
		}
		return c.String(http.StatusBadRequest, "read the request: "+err.Error()+"\n")
	}
	call.stdin = io.MultiReader(bytes.NewReader(head), call.stdin)
	wants, keyed, ok := packcache.Fetch(call.proto, head)
	if len(head) > packcache.MaxFetchRequest || !ok {
		_, err := s.runGit(c, call)
		return err
	}
	st, err := packcache.RepoState(ctx, s.git, call.dir)
	if err != nil {
		s.log.Warn("pack cache: read the repository's state", "dir", call.dir, "err", err)
	}
	if err != nil || !st.Tips(wants) {
		// Not a clone of what the refs hold now: git decides.
		_, err := s.runGit(c, call)
		return err
	}
	key := packcache.AnswerKey(s.gitVersion, s.uploadCfg, call.dir, call.proto, keyed, st)
	if a := s.answers.OpenAnswer(key); a != nil {
		defer a.Close()
		return s.sendAnswer(c, a)
	}
	keep := s.startFill(key)
	if keep == nil {
		// Being kept by another request, or the cache cannot write.
		_, err := s.runGit(c, call)
		return err
	}
	call.tee = keep
	gitOK, err := s.runGit(c, call)
	if !gitOK || ctx.Err() != nil {
		keep.Abort()
		s.endFill(key)
		return err
	}
	// Syncing a large answer takes a while: the client need not wait.
	go s.commitFill(key, keep, call.dir, st)
	return err
}

// sendAnswer sends a cached answer with its length, so that the file goes
// to the connection with sendfile where it can.
func (s *Server) sendAnswer(c echo.Context, a *packcache.Answer) error {
	res := c.Response()
	res.Header().Set(echo.HeaderContentLength, strconv.FormatInt(a.Size, 10))
	res.WriteHeader(http.StatusOK)
	n, err := io.Copy(res.Writer, io.LimitReader(a.File, a.Size))
	res.Size += n
	if err != nil && n < a.Size {
		// The client went away or is too slow; nothing more can be said.
		s.log.Debug("pack cache: send a cached answer", "sent", n, "of", a.Size, "err", err)
	}
	return nil
}

// startFill returns the writer that keeps the answer of key, or nil when
// another request of this server is keeping it already (one copy is
// enough) or the cache cannot be written.
func (s *Server) startFill(key [32]byte) *packcache.AnswerWriter {
	s.fillMu.Lock()
	defer s.fillMu.Unlock()
	if s.filling[key] {
		return nil
	}
	w := s.answers.NewAnswer(key)
	if w != nil {
		s.filling[key] = true
	}
	return w
}

func (s *Server) endFill(key [32]byte) {
	s.fillMu.Lock()
	delete(s.filling, key)
	s.fillMu.Unlock()
}

// commitFill keeps a whole answer of git under key, if the repository in
// dir is still in state st: a push that landed while git answered may
// have changed the answer.
func (s *Server) commitFill(key [32]byte, keep *packcache.AnswerWriter, dir string, st packcache.State) {
	defer s.endFill(key)
	now, err := packcache.RepoState(context.Background(), s.git, dir)
	if err != nil || !now.Equal(st) {
		keep.Abort()
		return
	}
	if err := keep.Commit(); err != nil {
		s.log.Warn("pack cache: keep an answer", "dir", dir, "err", err)
	}
}
