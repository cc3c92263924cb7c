// Package gitpeer serves bare repositories with git's own http-backend over
// CGI, set up as a fronting web server would run it: the reference that the
// git benchmarks measure Blueprints against. Request bodies sent chunked
// (large pushes) are spooled to a temporary file first so that the CGI
// program gets a CONTENT_LENGTH, as nginx does.
package gitpeer

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Peer is an http.Handler serving every repository under Root (anonymous
// clone, fetch and push).
type Peer struct {
	root    string
	spool   string
	handler *cgi.Handler
}

// New prepares a peer for the bare repositories under root, spooling
// chunked request bodies into spool (a folder; os.TempDir() when "").
func New(root, spool string) (*Peer, error) {
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		return nil, fmt.Errorf("find git's exec path (is git installed?): %w", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	if _, err := os.Stat(backend); err != nil {
		return nil, fmt.Errorf("find git http-backend: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if spool == "" {
		spool = os.TempDir()
	}
	return &Peer{
		root:  abs,
		spool: spool,
		handler: &cgi.Handler{
			Path: backend,
			Root: "/",
			Env: []string{
				"GIT_PROJECT_ROOT=" + abs,
				"GIT_HTTP_EXPORT_ALL=1",
				// http-backend enables receive-pack for authenticated users.
				"REMOTE_USER=peer",
			},
		},
	}, nil
}

// ServeHTTP runs git http-backend for the request.
func (p *Peer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Body != nil && r.ContentLength < 0 {
		f, err := os.CreateTemp(p.spool, "gitpeer-body-*")
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		defer os.Remove(f.Name())
		defer f.Close()
		n, err := io.Copy(f, r.Body)
		if err != nil {
			http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
			return
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		r.Body = f
		r.ContentLength = n
		r.TransferEncoding = nil
	}
	p.handler.ServeHTTP(w, r)
}
