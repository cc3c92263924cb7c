package lfs

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/blueprints-hq/blueprints/internal/store"
	"github.com/blueprints-hq/blueprints/repo"
	"github.com/blueprints-hq/blueprints/storage"
)

// lfsJSONRoutes are the LFS endpoints that read a JSON body.
var lfsJSONRoutes = []string{"objects/batch", "verify", "locks", "locks/verify", "locks/1/unlock"}

// FuzzJSONRequests sends arbitrary bodies to every LFS endpoint that reads
// JSON, as the project's owner and as a stranger, through the real
// handlers, store and blob storage. Whatever arrives, the answer is a
// client error or a success, never a server error, and its body is one
// well-formed JSON value.
func FuzzJSONRequests(f *testing.F) {
	oid := "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
	f.Add(uint8(0), true, []byte(`{"operation":"upload","transfers":["basic"],"objects":[{"oid":"`+oid+`","size":3}]}`))
	f.Add(uint8(0), false, []byte(`{"operation":"download","objects":[{"oid":"`+oid+`","size":3}],"ref":{"name":"refs/heads/main"}}`))
	f.Add(uint8(0), true, []byte(`{"operation":"upload","hash_algo":"sha512","objects":[]}`))
	f.Add(uint8(0), true, []byte(`{"operation":"upload","objects":[{"oid":"../../etc/passwd","size":-1}]}`))
	f.Add(uint8(1), true, []byte(`{"oid":"`+oid+`","size":3}`))
	f.Add(uint8(2), true, []byte(`{"path":"parts/idler.stl","ref":{"name":"refs/heads/main"}}`))
	f.Add(uint8(2), true, []byte(`{"path":"","ref":null}`))
	f.Add(uint8(3), true, []byte(`{"cursor":"abc","limit":100000,"ref":{"name":"refs/heads/main"}}`))
	f.Add(uint8(4), true, []byte(`{"force":true}`))
	f.Add(uint8(0), true, []byte(`{"operation":"upload","objects":[{"oid":"`+oid+`","size":1e400}]}`))
	f.Add(uint8(0), true, []byte(`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[`))
	f.Add(uint8(1), false, []byte{0xff, 0xfe, '{'})

	e, token := fuzzLFSServer(f)
	f.Fuzz(func(t *testing.T, route uint8, owner bool, body []byte) {
		path := "/alice/cart.git/info/lfs/" + lfsJSONRoutes[int(route)%len(lfsJSONRoutes)]
		req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Accept", MediaType)
		req.Header.Set("Content-Type", MediaType)
		if owner {
			req.SetBasicAuth("alice", token)
		}
		rec := httptest.NewRecorder()
		e.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("POST %s with %q: %d %s", path, body, rec.Code, rec.Body)
		}
		if rec.Body.Len() > 0 && !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("POST %s with %q: %d with a body that is not JSON: %q", path, body, rec.Code, rec.Body)
		}
	})
}

// fuzzLFSServer is an LFS server with one user (alice, whose token it
// returns) owning one project, served in process without a listener.
func fuzzLFSServer(f *testing.F) (*echo.Echo, string) {
	ctx := context.Background()
	data := f.TempDir()
	st, err := store.Open(ctx, filepath.Join(data, "blueprints.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { st.Close() })
	repos, err := repo.New(repo.Config{Data: data, Store: st, Executable: "/bin/false"})
	if err != nil {
		f.Fatal(err)
	}
	blobs, err := storage.NewFS(filepath.Join(data, "blobs"))
	if err != nil {
		f.Fatal(err)
	}
	srv, err := New(Config{Store: st, Blobs: blobs, Repos: repos})
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.CreateUser(ctx, "alice"); err != nil {
		f.Fatal(err)
	}
	_, token, err := st.CreateToken(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	if _, err := st.CreateProject(ctx, "alice", "cart"); err != nil {
		f.Fatal(err)
	}
	e := echo.New()
	srv.Register(e)
	return e, token
}
